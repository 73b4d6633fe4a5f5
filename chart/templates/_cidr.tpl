{{/* IPv4 CIDR arithmetic for the sandbox NetworkPolicy: an ipBlock's `except` must lie inside its `cidr`,
     so each blocked range is listed only under the allowed ranges that contain it. */}}

{{/* "a.b.c.d/n" -> {"net": <address as an integer>, "bits": n}; {} for anything not IPv4. */}}
{{- define "ci-fixer.cidr4" -}}
{{- $parts := splitList "/" . }}
{{- $octets := splitList "." (first $parts) }}
{{- if and (eq (len $parts) 2) (eq (len $octets) 4) }}
{{- $net := 0 }}
{{- range $octets }}{{ $net = add (mul $net 256) (atoi .) }}{{ end }}
{{- toJson (dict "net" $net "bits" (atoi (last $parts))) }}
{{- else }}{}{{ end }}
{{- end }}

{{/* "true" when CIDR inner (index . 1) lies strictly inside CIDR outer (index . 0), both IPv4. */}}
{{- define "ci-fixer.cidrStrictlyInside" -}}
{{- $outer := include "ci-fixer.cidr4" (index . 0) | fromJson }}
{{- $inner := include "ci-fixer.cidr4" (index . 1) | fromJson }}
{{- if and $outer $inner (gt (int $inner.bits) (int $outer.bits)) }}
{{- $size := 1 }}
{{- range until (sub 32 (int $outer.bits) | int) }}{{ $size = mul $size 2 }}{{ end }}
{{- if eq (div (int64 $outer.net) $size) (div (int64 $inner.net) $size) }}true{{ end }}
{{- end }}
{{- end }}

{{/* "true" when CIDR inner (index . 1) covers all of outer (index . 0): the allowed range is blocked entirely. */}}
{{- define "ci-fixer.cidrCovers" -}}
{{- $outer := include "ci-fixer.cidr4" (index . 0) | fromJson }}
{{- $inner := include "ci-fixer.cidr4" (index . 1) | fromJson }}
{{- if and $outer $inner (le (int $inner.bits) (int $outer.bits)) }}
{{- $size := 1 }}
{{- range until (sub 32 (int $inner.bits) | int) }}{{ $size = mul $size 2 }}{{ end }}
{{- if eq (div (int64 $outer.net) $size) (div (int64 $inner.net) $size) }}true{{ end }}
{{- end }}
{{- end }}
