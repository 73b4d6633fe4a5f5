{{/* Names ------------------------------------------------------------------------------------------- */}}
{{- define "ci-fixer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ci-fixer.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ci-fixer.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ci-fixer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: include "ci-fixer.selectorLabels" (list . "api") */}}
{{- define "ci-fixer.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "ci-fixer.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "ci-fixer.componentLabels" -}}
{{ include "ci-fixer.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "ci-fixer.image" -}}
{{- $root := index . 0 }}{{ $image := index . 1 -}}
{{ $image.repository }}:{{ $image.tag | default $root.Chart.AppVersion }}
{{- end }}

{{- define "ci-fixer.serviceAccountName" -}}
{{- $root := index . 0 }}{{ $component := index . 1 -}}
{{- (index $root.Values.serviceAccounts $component).name | default (printf "%s-%s" (include "ci-fixer.fullname" $root) $component) }}
{{- end }}

{{/* Sandboxes get a namespace of their own by default: <release namespace>-sandboxes. */}}
{{- define "ci-fixer.sandboxNamespace" -}}
{{- .Values.sandbox.namespace | default (printf "%s-sandboxes" .Release.Namespace | trunc 63 | trimSuffix "-") }}
{{- end }}

{{- define "ci-fixer.secretName" -}}
{{- .Values.existingSecret | default (include "ci-fixer.fullname" .) }}
{{- end }}

{{- define "ci-fixer.redisName" -}}
{{- printf "%s-redis" (include "ci-fixer.fullname" .) }}
{{- end }}

{{/* The code's contract, generated from it by scripts/chart-contract.ts ------------------------------------ */}}
{{- define "ci-fixer.envContract" -}}
{{- (.Files.Get "files/env.json" | fromJson).env | toJson }}
{{- end }}

{{- define "ci-fixer.http" -}}
{{- .Files.Get "files/http.json" }}
{{- end }}

{{/* One env value as the code reads it: integers without a float's exponent, booleans as true/false. */}}
{{- define "ci-fixer.envValue" -}}
{{- $value := index . 0 }}{{ $kind := index . 1 -}}
{{- if kindIs "invalid" $value }}{{ "" }}
{{- else if and (eq $kind "integer") (or (kindIs "float64" $value) (kindIs "int64" $value) (kindIs "int" $value)) }}{{ $value | int64 | toString }}
{{- else }}{{ $value | toString }}
{{- end }}
{{- end }}

{{/* Values of the chart-owned names (see CHART_OWNED_ENV_NAMES in scripts/chart-contract.ts), except REDIS_URL. */}}
{{- define "ci-fixer.ownedEnv" -}}
{{- toJson (dict "NODE_ENV" "production" "HOST" "0.0.0.0" "PORT" (.Values.api.port | int64 | toString) "WORKER_METRICS_HOST" "0.0.0.0" "WORKER_METRICS_PORT" (.Values.worker.metricsPort | int64 | toString) "K8S_NAMESPACE" (include "ci-fixer.sandboxNamespace" .) "K8S_SANDBOX_SERVICE_ACCOUNT" (include "ci-fixer.serviceAccountName" (list . "sandbox")) "K8S_EGRESS_PROXY" (printf "%s-egress-proxy.%s.svc:%d" (include "ci-fixer.fullname" .) .Release.Namespace (.Values.egressProxy.port | int)) "EGRESS_PROXY_PORT" (.Values.egressProxy.port | int64 | toString)) }}
{{- end }}

{{/* WORKER_SHUTDOWN_GRACE_SECONDS and FIX_TIMEOUT_SECONDS as set, or the code's defaults. */}}
{{- define "ci-fixer.shutdownGraceSeconds" -}}
{{- $grace := index .Values.config "WORKER_SHUTDOWN_GRACE_SECONDS" }}
{{- if kindIs "invalid" $grace }}{{ 60 }}{{ else }}{{ $grace | int64 }}{{ end }}
{{- end }}

{{- define "ci-fixer.fixTimeoutSeconds" -}}
{{- $timeout := index .Values.config "FIX_TIMEOUT_SECONDS" }}
{{- if kindIs "invalid" $timeout }}{{ 1800 }}{{ else }}{{ $timeout | int64 }}{{ end }}
{{- end }}

{{/* The Secret with the bundled Redis's password, and its key. */}}
{{- define "ci-fixer.redisAuthSecret" -}}
{{- .Values.redis.auth.existingSecret | default (printf "%s-auth" (include "ci-fixer.redisName" .)) }}
{{- end }}

{{- define "ci-fixer.redisAuthKey" -}}
{{- if .Values.redis.auth.existingSecret }}{{ .Values.redis.auth.existingSecretPasswordKey | default "password" }}{{ else }}password{{ end }}
{{- end }}

{{/* REDIS_URL as container env entries, never a plain value holding a password: the bundled Redis's URL is
     built by the kubelet from REDIS_PASSWORD (a secretKeyRef, expanded with $(...)), an external one comes
     whole from a Secret. */}}
{{- define "ci-fixer.redisUrlEnv" -}}
{{- if .Values.redis.enabled }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "ci-fixer.redisAuthSecret" . }}
      key: {{ include "ci-fixer.redisAuthKey" . }}
- name: REDIS_URL
  value: {{ printf "redis://%s:$(REDIS_PASSWORD)@%s:6379" (.Values.redis.auth.username | default "") (include "ci-fixer.redisName" .) | quote }}
{{- else if .Values.externalRedis.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalRedis.existingSecret }}
      key: {{ .Values.externalRedis.existingSecretKey | default "REDIS_URL" }}
{{- else }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "ci-fixer.redisName" . }}-url
      key: REDIS_URL
{{- end }}
{{- with .Values.externalRedis.tls.caSecret.name }}
{{- if not $.Values.redis.enabled }}
{{- /* Node trusts this CA in addition to its own for rediss:// (mounted by ci-fixer.redisCaMount). */}}
- name: NODE_EXTRA_CA_CERTS
  value: /etc/ci-fixer/redis-ca/{{ $.Values.externalRedis.tls.caSecret.key | default "ca.crt" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The external Redis's CA certificate, mounted for NODE_EXTRA_CA_CERTS (app containers). */}}
{{- define "ci-fixer.redisCaMount" -}}
{{- if and (not .Values.redis.enabled) .Values.externalRedis.tls.caSecret.name }}
- { name: redis-ca, mountPath: /etc/ci-fixer/redis-ca, readOnly: true }
{{- end }}
{{- end }}

{{- define "ci-fixer.redisCaVolume" -}}
{{- if and (not .Values.redis.enabled) .Values.externalRedis.tls.caSecret.name }}
- name: redis-ca
  secret:
    secretName: {{ .Values.externalRedis.tls.caSecret.name }}
    items:
      - { key: {{ .Values.externalRedis.tls.caSecret.key | default "ca.crt" }}, path: {{ .Values.externalRedis.tls.caSecret.key | default "ca.crt" }} }
{{- end }}
{{- end }}

{{/* envFrom + env shared by the API and worker containers. */}}
{{- define "ci-fixer.appEnv" -}}
envFrom:
  - configMapRef:
      name: {{ include "ci-fixer.fullname" . }}
  - secretRef:
      name: {{ include "ci-fixer.secretName" . }}
env:
{{ include "ci-fixer.redisUrlEnv" . }}
{{- end }}

{{/* Restart pods when their configuration changes. */}}
{{- define "ci-fixer.configChecksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- /* Not the rendered Secret: a generated API token differs between renders. */}}
checksum/secret: {{ toJson (list .Values.secrets .Values.existingSecret .Values.externalRedis .Values.redis.auth) | sha256sum }}
{{- end }}

{{/* Install-time checks the values schema cannot express. */}}
{{- define "ci-fixer.validate" -}}
{{- if and .Values.redis.enabled (or .Values.externalRedis.url .Values.externalRedis.existingSecret) }}
{{- fail "redis.enabled=true and externalRedis are both set: use the bundled Redis (dev) or an external one (production), not both" }}
{{- end }}
{{- if not (or .Values.redis.enabled .Values.externalRedis.url .Values.externalRedis.existingSecret) }}
{{- fail "no Redis: set redis.enabled=true (bundled, dev) or externalRedis.url / externalRedis.existingSecret" }}
{{- end }}
{{- if and .Values.worker.autoscaling.enabled .Values.worker.keda.enabled }}
{{- fail "worker.autoscaling.enabled and worker.keda.enabled are both true: KEDA creates its own HPA; enable one" }}
{{- end }}
{{- if and .Values.worker.keda.enabled (not .Values.redis.enabled) (not .Values.worker.keda.redis.address) }}
{{- fail "worker.keda.enabled with an external Redis needs worker.keda.redis.address (host:port; KEDA cannot read a URL)" }}
{{- end }}
{{- if lt (.Values.worker.autoscaling.maxReplicas | int) (.Values.worker.autoscaling.minReplicas | int) }}
{{- fail "worker.autoscaling.maxReplicas must be >= worker.autoscaling.minReplicas" }}
{{- end }}
{{- if lt (.Values.worker.keda.maxReplicaCount | int) (.Values.worker.keda.minReplicaCount | int) }}
{{- fail "worker.keda.maxReplicaCount must be >= worker.keda.minReplicaCount" }}
{{- end }}
{{- $grace := include "ci-fixer.shutdownGraceSeconds" . | int }}
{{- $timeout := include "ci-fixer.fixTimeoutSeconds" . | int }}
{{- if and (lt $grace $timeout) (not .Values.worker.allowShortShutdownGrace) }}
{{- fail (printf "config.WORKER_SHUTDOWN_GRACE_SECONDS (%d) is shorter than config.FIX_TIMEOUT_SECONDS (%d): a scale-down or rollout would cut running fixes short. Raise it, or set worker.allowShortShutdownGrace=true to accept that (jobs go back to the queue)" $grace $timeout) }}
{{- end }}
{{- if and (eq (include "ci-fixer.sandboxNamespace" .) .Release.Namespace) (not .Values.sandbox.allowReleaseNamespace) }}
{{- fail (printf "sandbox.namespace is the release namespace (%s): sandbox pods run untrusted repository code and must not share a namespace with the API, the worker, Redis and their Secrets. Leave sandbox.namespace empty (default: <release namespace>-sandboxes) or name another namespace; set sandbox.allowReleaseNamespace=true only to accept sharing it" .Release.Namespace) }}
{{- end }}
{{- if and .Values.externalRedis.tls.caSecret.name .Values.externalRedis.url (not (hasPrefix "rediss://" .Values.externalRedis.url)) }}
{{- fail "externalRedis.tls.caSecret is set but externalRedis.url is not rediss://: the CA is only used for TLS" }}
{{- end }}
{{- if and .Values.worker.keda.enabled (not .Values.redis.enabled) (not .Values.worker.keda.redis.passwordSecret.name) }}
{{- fail "worker.keda.enabled with an external Redis needs worker.keda.redis.passwordSecret (KEDA must authenticate to Redis)" }}
{{- end }}
{{- end }}
