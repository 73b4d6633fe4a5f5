# shellcheck shell=bash
# The dev cluster's real node: containerd + runc (Debian), a kubelet built with
# the other Kubernetes tools, the CNI plugins (bridge, host-local, loopback,
# portmap) and a tiny pause image. Sourced by scripts/dev-cluster; uses its
# helpers (log, die, start_proc, stop_proc, kc, sign_cert, ...) and settings.
#
# Everything lives under $REAL (the cluster's state dir): containerd's root,
# state and socket, the kubelet's root dir, pod logs, CNI config, netns mounts.
# Outside it, on the host, the node needs: a bridge ($REAL_BRIDGE), its own
# cgroup parent ($REAL_CGROUP in each cgroup v1 hierarchy), net.ipv4.ip_forward
# (the bridge plugin sets it; `down` restores it), and portmap's nftables table.
# `down` removes all of those.
#
# The node is tainted (REAL_TAINT) and labelled (REAL_LABEL): only pods that
# tolerate the taint and select the label run here, so API-only tests keep
# landing on the KWOK node.
#
# If something the node needs is missing, real_node_up says why, leaves no
# half-started parts behind and returns 0: the KWOK cluster carries on.

REAL=$STATE/real-node
REAL_NODE_NAME=${DEV_CLUSTER_REAL_NODE_NAME:-real-node-0}
# Pod network: a /24 on our own bridge. The bridge's .1 is also the node IP
# (the kubelet refuses loopback, and this kernel has no dummy links), so the
# apiserver reaches the kubelet there for exec and logs.
REAL_POD_NET=${DEV_CLUSTER_POD_NET:-10.244.0}
REAL_BRIDGE=${DEV_CLUSTER_BRIDGE:-cif-br0}
REAL_NODE_IP=$REAL_POD_NET.1
REAL_CGROUP=ci-fixer-$REAL_BRIDGE
KUBELET_PORT=$((10350 + PORT_OFFSET))
KUBELET_HEALTHZ_PORT=$((10348 + PORT_OFFSET))
REAL_LABEL_KEY=ci-fixer.dev/node
REAL_LABEL_VALUE=real
REAL_TAINT_KEY=ci-fixer.dev/real-node
# Images imported from podman get this extra tag: a tag other than `latest`
# makes IfNotPresent Kubernetes' default pull policy, and no registry is
# reachable to pull from.
REAL_IMAGE_TAG=dev-cluster
PAUSE_IMAGE=ci-fixer.local/pause:1
CNI_VERSION=v1.10.0
CNI_BIN=$CACHE_ROOT/k8s-tools/cni-plugins-$CNI_VERSION/bin
PAUSE_DIR=$CACHE_ROOT/k8s-tools/pause
CONTAINERD_SOCK=$REAL/containerd/containerd.sock
REAL_PROCESSES=(containerd kubelet)

ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# real_node_skip REASON: record why there is no real node, say it, carry on.
real_node_skip() {
  mkdir -p "$REAL"
  printf '%s\n' "$1" > "$REAL/unavailable"
  log "NO REAL NODE: $1"
  log "carrying on with the KWOK node only (API-level tests work; nothing runs in a container)"
}

real_node_enabled() { [[ ${DEV_CLUSTER_REAL_NODE:-1} != 0 ]]; }

# Why a real node cannot run here, or nothing.
real_node_blocker() {
  [[ $(id -u) == 0 ]] || { echo "not root (containerd, runc, bridges and cgroups need root)"; return; }
  local c
  for c in containerd containerd-shim-runc-v2 runc ctr; do
    command -v "$c" >/dev/null 2>&1 || { echo "'$c' not found (apt-get install containerd runc)"; return; }
  done
  [[ -d /sys/fs/cgroup/memory && -d /sys/fs/cgroup/pids && -d /sys/fs/cgroup/cpu ]] \
    || { echo "no cgroup v1 memory/pids/cpu hierarchies under /sys/fs/cgroup (this node is set up for cgroup v1 hybrid, as on this kind of VM)"; return; }
  command -v ip >/dev/null 2>&1 || { echo "'ip' not found (apt-get install iproute2)"; return; }
  [[ -x $BIN/kubelet ]] || { echo "no kubelet in $BIN (the Kubernetes build did not produce it)"; return; }
}

# --- build: CNI plugins and the pause image (cached) -------------------------
build_cni_plugins() {
  local stamp=$CNI_BIN/.built-cni-plugins-$CNI_VERSION p
  [[ -f $stamp ]] && return 0
  ensure_go
  mkdir -p "$CNI_BIN"
  local base=github.com/containernetworking/plugins/plugins targets=()
  for p in main/bridge main/loopback ipam/host-local meta/portmap; do targets+=("$base/$p@$CNI_VERSION"); done
  log "building CNI plugins $CNI_VERSION (bridge, loopback, host-local, portmap)"
  local t0; t0=$(now_s)
  (cd "$TOOLS_DIR" && GOWORK=off GOBIN=$CNI_BIN CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "${targets[@]}") \
    || return 1
  touch "$stamp"
  log "built CNI plugins in $(( $(now_s) - t0 ))s"
}

# A docker-archive tarball with one file, /pause, built from dev-cluster.d/pause.
build_pause_image() {
  local src=$ASSETS/pause key tar
  key=$(cat "$src/go.mod" "$src/main.go" | sha256sum | cut -c1-12)
  tar=$PAUSE_DIR/pause-$key.tar
  PAUSE_TAR=$tar
  [[ -s $tar ]] && return 0
  ensure_go
  mkdir -p "$PAUSE_DIR"
  local wd; wd=$(mktemp -d "$PAUSE_DIR/.build.XXXXXX")
  (cd "$src" && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$wd/root/pause" .) \
    || { rm -rf "$wd"; return 1; }
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$wd/root" -cf "$wd/layer.tar" pause
  local layer_sha config config_sha
  layer_sha=$(sha256sum < "$wd/layer.tar" | cut -d' ' -f1)
  config=$(printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"scripts/dev-cluster pause"}]}' "$layer_sha")
  config_sha=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
  mkdir -p "$wd/img/$layer_sha"
  mv "$wd/layer.tar" "$wd/img/$layer_sha/layer.tar"
  printf '%s' "$config" > "$wd/img/$config_sha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$config_sha" "$PAUSE_IMAGE" "$layer_sha" \
    > "$wd/img/manifest.json"
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$wd/img" -cf "$tar.partial" .
  mv -f "$tar.partial" "$tar"
  rm -rf "$wd"
}

# --- host parts: bridge, cgroups, forwarding ----------------------------------
setup_bridge() {
  if ! ip link show "$REAL_BRIDGE" >/dev/null 2>&1; then
    ip link add "$REAL_BRIDGE" type bridge || return 1
  fi
  # Ours to delete on `down` (or when the start fails below).
  touch "$REAL/.bridge"
  ip addr show dev "$REAL_BRIDGE" | grep -qF " $REAL_NODE_IP/24 " \
    || ip addr add "$REAL_NODE_IP/24" dev "$REAL_BRIDGE" || return 1
  ip link set "$REAL_BRIDGE" up || return 1
}

# The kubelet's cgroup parent, in every v1 hierarchy, so that two dev clusters
# (or a real kubelet) never share a "kubepods" tree.
setup_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/; do
    [[ -d $d && $d != /sys/fs/cgroup/unified/ ]] || continue
    mkdir -p "$d$REAL_CGROUP" || return 1
    if [[ -f ${d}cpuset.cpus ]]; then
      cat "${d}cpuset.cpus" > "$d$REAL_CGROUP/cpuset.cpus"
      cat "${d}cpuset.mems" > "$d$REAL_CGROUP/cpuset.mems"
    fi
  done
}

# Kill every process left in our cgroup tree, then remove the tree.
teardown_cgroups() {
  local d pid i
  for i in 1 2 3; do
    [[ -d /sys/fs/cgroup/pids/$REAL_CGROUP ]] || break
    for pid in $(find "/sys/fs/cgroup/pids/$REAL_CGROUP" -name cgroup.procs -exec cat {} + 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
    sleep 0.2
  done
  for d in /sys/fs/cgroup/*/"$REAL_CGROUP"; do
    [[ -d $d ]] || continue
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || log "could not remove cgroup $d (processes left?)"
  done
}

save_ip_forward() {
  [[ -f $REAL/ip_forward.saved ]] || cat /proc/sys/net/ipv4/ip_forward > "$REAL/ip_forward.saved"
}

# --- config files -------------------------------------------------------------
write_containerd_config() {
  mkdir -p "$REAL/containerd" "$REAL/cni/net.d"
  cat > "$REAL/containerd/config.toml" <<EOF
# Generated by scripts/dev-cluster. Own root, state and socket: no system service.
version = 2
root = "$REAL/containerd/root"
state = "$REAL/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Pod sandboxes ask for oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE,
  # which this VM's root lacks ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  # Network namespaces under our state dir, not /var/run/netns.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$REAL/cni/net.d"
EOF
  # No ipMasq: pods reach only this machine (test traffic stays local).
  cat > "$REAL/cni/net.d/10-ci-fixer.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "ci-fixer-dev",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$REAL_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$REAL/cni/ipam",
        "ranges": [[{ "subnet": "$REAL_POD_NET.0/24", "gateway": "$REAL_NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "backend": "nftables", "capabilities": { "portMappings": true } }
  ]
}
EOF
}

write_kubelet_config() {
  mkdir -p "$REAL/kubelet" "$REAL/pod-logs" "$REAL/volume-plugins"
  # Node credentials: a client certificate for system:node:<name> (the Node
  # authorizer and NodeRestriction apply), signed by the dev CA.
  sign_client_cert kubelet-client "system:node:$REAL_NODE_NAME" system:nodes
  sign_cert kubelet "$REAL_NODE_NAME" "IP:$REAL_NODE_IP,DNS:$REAL_NODE_NAME"
  (umask 077; cat > "$REAL/kubelet.kubeconfig") <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ci-fixer-dev
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: kubelet
  user:
    client-certificate: $PKI/kubelet-client.crt
    client-key: $PKI/kubelet-client.key
contexts:
- name: kubelet
  context: { cluster: ci-fixer-dev, user: kubelet }
current-context: kubelet
EOF
  # Pods' nameserver is their own loopback, where nothing answers: this machine's resolver is not on this
  # machine, and pod traffic is not masqueraded, so a query could only leak (no cluster DNS runs here; pods
  # use IPs or hostAliases). With no nameserver at all, containerd would copy the host's /etc/resolv.conf.
  printf '%s\n' "# Generated by scripts/dev-cluster: no pod's DNS query leaves this machine." "nameserver 127.0.0.1" \
    > "$REAL/kubelet/resolv.conf"
  # authentication: client certificates from the dev CA only (the apiserver's
  # kubelet-client cert); no anonymous access, so a pod on the bridge cannot
  # use the kubelet API. failCgroupV1: false because this VM is cgroup v1.
  cat > "$REAL/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $REAL_NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: $PKI/ca.crt }
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
cgroupRoot: /$REAL_CGROUP
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
enforceNodeAllocatable: []
podLogsDir: $REAL/pod-logs
volumePluginDir: $REAL/volume-plugins
registerNode: true
registerWithTaints:
- { key: $REAL_TAINT_KEY, value: "true", effect: NoSchedule }
# Imported images must never be garbage-collected: nothing could pull them back.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
maxPods: 40
# What an operator sets for a pids limit per pod (SANDBOX_PIDS' default): a pod spec has no such field.
podPidsLimit: 1024
serializeImagePulls: false
resolvConf: $REAL/kubelet/resolv.conf
EOF
}

# --- images -------------------------------------------------------------------
# import_archive FILE: a docker-archive tarball into containerd's k8s.io namespace.
import_archive() {
  ctr_k8s images import --no-unpack=false --all-platforms "$1" >/dev/null
}

# Images from podman's store: each podman tag localhost/REPO:TAG is also
# REPO:TAG (docker.io/REPO:TAG, which a pod spec's "REPO:TAG" means) and
# REPO:dev-cluster. Missing images are skipped with a note.
import_podman_images() {
  command -v podman >/dev/null 2>&1 || { log "podman not found: no images imported into the real node"; return 0; }
  local conf; conf=$("$REPO_ROOT/scripts/podman-service" conf 2>/dev/null) || conf=
  local ref repo tarfile
  for ref in "$@"; do
    if ! CONTAINERS_CONF=$conf podman image exists "$ref" 2>/dev/null; then
      log "image $ref is not in podman's store (scripts/build-images makes it); not imported"
      continue
    fi
    repo=${ref#localhost/}; repo=${repo%:*}
    # Already imported, same image: skip (a save + import of the sandbox image takes ~20s on each `up`).
    local id stamp=$REAL/imported/${ref//\//_}
    id=$(CONTAINERS_CONF=$conf podman image inspect --format '{{.Id}}' "$ref" 2>/dev/null) || id=
    if [[ -n $id && -f $stamp && $(cat "$stamp") == "$id" ]] \
      && ctr_k8s images ls -q 2>/dev/null | grep -qxF "docker.io/$repo:$REAL_IMAGE_TAG"; then
      log "image $ref already imported into the real node (${id:0:12})"
      continue
    fi
    tarfile=$REAL/image-import.tar
    local t0; t0=$(now_s)
    CONTAINERS_CONF=$conf podman save --format docker-archive -o "$tarfile" "$ref" >/dev/null 2>&1 \
      || { rm -f "$tarfile"; log "podman save $ref failed; not imported"; continue; }
    if ! import_archive "$tarfile"; then
      rm -f "$tarfile"; log "ctr import of $ref failed; not imported"; continue
    fi
    rm -f "$tarfile"
    local src=localhost/$repo:${ref##*:}
    ctr_k8s images tag --force "$src" "docker.io/$repo:${ref##*:}" >/dev/null
    ctr_k8s images tag --force "$src" "docker.io/$repo:$REAL_IMAGE_TAG" >/dev/null
    if [[ -n $id ]]; then mkdir -p "$REAL/imported" && printf '%s\n' "$id" > "$stamp"; fi
    log "imported $ref into the real node as $repo:${ref##*:} and $repo:$REAL_IMAGE_TAG ($(( $(now_s) - t0 ))s)"
  done
}

REAL_NODE_IMAGES=(
  "localhost/${CI_FIXER_BUSYBOX_TAG:-ci-fixer/test-busybox:latest}"
  "localhost/${CI_FIXER_SANDBOX_TAG:-ci-fixer/sandbox:latest}"
  # The chart's API and worker images as scripts/build-app-images tags them (the chart's appVersion), which is
  # the chart's default image tag: not `latest`, so the chart's IfNotPresent runs the imported copy.
  "localhost/ci-fixer/api:$(awk '/^appVersion:/ { gsub(/["\047]/, "", $2); print $2 }' "$REPO_ROOT/chart/Chart.yaml")"
  "localhost/ci-fixer/worker:$(awk '/^appVersion:/ { gsub(/["\047]/, "", $2); print $2 }' "$REPO_ROOT/chart/Chart.yaml")"
)

# --- lifecycle ----------------------------------------------------------------
real_node_ready() {
  [[ $(kc get node "$REAL_NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

containerd_up() { ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; }

# real_node_up: start the real node or say why not; never fails the caller.
real_node_up() {
  rm -f "$REAL/unavailable"
  if ! real_node_enabled; then
    real_node_skip "DEV_CLUSTER_REAL_NODE=0"
    return 0
  fi
  local why; why=$(real_node_blocker)
  if [[ -n $why ]]; then real_node_skip "$why"; return 0; fi
  if ! (real_node_start); then
    local reason; reason=$(cat "$REAL/failed" 2>/dev/null || echo "see $LOGS/containerd.log and $LOGS/kubelet.log")
    real_node_down_parts
    real_node_skip "the real node did not start: $reason"
  fi
  return 0
}

# In a subshell: a failure anywhere ends it; real_node_up cleans up.
real_node_start() {
  set -e
  mkdir -p "$REAL"
  fail() { printf '%s\n' "$1" > "$REAL/failed"; log "real node: $1"; exit 1; }
  local t0; t0=$(now_s)
  build_cni_plugins || fail "building the CNI plugins failed (Go module proxy?)"
  build_pause_image || fail "building the pause image failed"
  save_ip_forward
  setup_bridge || fail "could not create bridge $REAL_BRIDGE with $REAL_NODE_IP/24 (ip link add ... type bridge)"
  setup_cgroups || fail "could not create cgroup $REAL_CGROUP in /sys/fs/cgroup/*"
  write_containerd_config
  write_kubelet_config
  start_proc containerd containerd --config "$REAL/containerd/config.toml" --log-level warn \
    || fail "containerd exited at once (see $LOGS/containerd.log)"
  local deadline=$(( $(now_s) + 30 ))
  until containerd_up; do
    (( $(now_s) < deadline )) || fail "containerd did not answer on $CONTAINERD_SOCK within 30s (see $LOGS/containerd.log)"
    sleep 0.3
  done
  import_archive "$PAUSE_TAR" || fail "could not import the pause image into containerd"
  # A running kubelet keeps the configuration it started with: after a change (a new version of this
  # script), restart it. Its pods keep running (their containers are containerd's).
  if is_running kubelet && ! cmp -s "$REAL/kubelet/config.yaml" "$REAL/kubelet/config.yaml.started"; then
    log "the kubelet's configuration changed; restarting the kubelet"
    stop_proc kubelet
  fi
  cp "$REAL/kubelet/config.yaml" "$REAL/kubelet/config.yaml.started"
  start_proc kubelet "$BIN/kubelet" \
    --config "$REAL/kubelet/config.yaml" \
    --kubeconfig "$REAL/kubelet.kubeconfig" \
    --root-dir "$REAL/kubelet/root" \
    --hostname-override "$REAL_NODE_NAME" \
    --node-ip "$REAL_NODE_IP" \
    --node-labels "$REAL_LABEL_KEY=$REAL_LABEL_VALUE" \
    --v=1 || fail "the kubelet exited at once (see $LOGS/kubelet.log)"
  deadline=$(( $(now_s) + READY_TIMEOUT ))
  until real_node_ready; do
    is_running kubelet || fail "the kubelet exited (last lines of $LOGS/kubelet.log: $(tail -n 5 "$LOGS/kubelet.log" | tr '\n' ' '))"
    (( $(now_s) < deadline )) || fail "node $REAL_NODE_NAME was not Ready within ${READY_TIMEOUT}s (see $LOGS/kubelet.log)"
    sleep 0.5
  done
  log "real node $REAL_NODE_NAME Ready at $REAL_NODE_IP ($(( $(now_s) - t0 ))s)"
  import_podman_images "${REAL_NODE_IMAGES[@]}"
}

# Stop and remove everything the real node made, on the host too. Safe to call
# when nothing was started.
real_node_down_parts() {
  [[ -d $REAL ]] || return 0
  netpol_down
  stop_proc kubelet
  # Containers first (their shims and processes live in our cgroup), then the shims, then containerd.
  teardown_cgroups
  # Shims of our containerd only: their argv holds "-address <our socket>".
  local f pid
  for f in /proc/[0-9]*/cmdline; do
    if { tr '\0' '\n' < "$f"; } 2>/dev/null | grep -qxF -- "$CONTAINERD_SOCK"; then
      pid=${f#/proc/}; pid=${pid%/cmdline}
      [[ $pid != "$(pid_of containerd 2>/dev/null)" ]] && kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  stop_proc containerd
  teardown_cgroups
  # The kubelet bind-mounts its root dir on itself; containerd mounts netns,
  # shm and overlay rootfs under its state: unmount all of ours, deepest first.
  local mnt
  while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || true
  done < <(awk -v d="$REAL/" 'index($2, d) == 1 || $2 == substr(d, 1, length(d) - 1) { print $2 }' /proc/mounts | sort -r)
  if [[ -f $REAL/.bridge ]]; then
    ip link del "$REAL_BRIDGE" 2>/dev/null || true
    rm -f "$REAL/.bridge"
  fi
  # portmap's nftables table (only created once a pod used a hostPort).
  if command -v nft >/dev/null 2>&1 && nft list table inet cni_hostport >/dev/null 2>&1; then
    nft delete table inet cni_hostport 2>/dev/null || log "could not delete nftables table inet cni_hostport"
  fi
  if [[ -f $REAL/ip_forward.saved ]]; then
    cat "$REAL/ip_forward.saved" > /proc/sys/net/ipv4/ip_forward 2>/dev/null || true
    rm -f "$REAL/ip_forward.saved"
  fi
}

real_node_status() {
  local name rc=0
  if [[ -f $REAL/unavailable ]]; then
    printf '%-24s none: %s\n' "node/$REAL_NODE_NAME" "$(cat "$REAL/unavailable")"
    return 0
  fi
  for name in "${REAL_PROCESSES[@]}"; do
    if is_running "$name"; then
      printf '%-24s running (pid %s)\n' "$name" "$(pid_of "$name")"
    else
      printf '%-24s stopped\n' "$name"; rc=1
    fi
  done
  if real_node_ready; then
    printf '%-24s Ready (%s, label %s=%s, taint %s)\n' "node/$REAL_NODE_NAME" "$REAL_NODE_IP" \
      "$REAL_LABEL_KEY" "$REAL_LABEL_VALUE" "$REAL_TAINT_KEY"
  else
    printf '%-24s NotReady\n' "node/$REAL_NODE_NAME"; rc=1
  fi
  return "$rc"
}
