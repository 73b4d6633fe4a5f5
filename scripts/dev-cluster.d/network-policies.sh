# shellcheck shell=bash
# NetworkPolicy on the dev cluster's real node: kube-network-policies
# (sigs.k8s.io/kube-network-policies, built from the Go module proxy and
# cached like the other tools), run as a host process next to the kubelet.
# Sourced by scripts/dev-cluster after real-node.sh; uses their helpers and
# settings.
#
# How it works: the first packet of every new connection from or to a pod is
# handed to kube-network-policies through an nfnetlink queue; it evaluates the
# NetworkPolicies of the pods involved (from its informers) and answers accept
# or drop. No bypass: while it is not listening, queued packets are dropped
# (its own default, fail-open off).
#
# Three things are added to what it does upstream, all kept under this node's
# names and removed by `down`:
# - Packets to the node's own addresses. Upstream queues packets only in
#   POSTROUTING, which a pod's packets to the node (its bridge gateway, any
#   host address) never pass: they are delivered locally (INPUT). Here packets
#   arriving from the pod bridge for local delivery are queued as well, so a
#   pod's egress policy also decides whether it may reach the node.
# - The queueing rule itself where the kernel has no nftables `queue`
#   expression (CONFIG_NFT_QUEUE, missing on this kind of VM). Upstream's
#   own nftables table then fails to load (it logs "syncing nftables rules"
#   errors), so the same rules are made with iptables-nft's NFQUEUE target
#   (nft_compat + xt_NFQUEUE): established traffic and the node's root
#   processes (kubelet probes) pass, every other packet from or to the pod
#   network is queued. Upstream queues only the IPs of pods that policies
#   select; queueing all pod traffic gives the same verdicts (a pod without
#   policies is allowed), at the cost of one userspace look at the first
#   packet of each connection.
# - IPv6 on the pod bridge is dropped. The pod network is IPv4-only, but every
#   pod and the bridge have link-local IPv6 addresses, and kube-network-policies
#   cannot tell which pod a link-local address belongs to (pods report IPv4
#   IPs only), so it would allow them: a pod could reach another pod, or any
#   host service bound to `::`, over fe80::/10.
#
# If the node cannot enforce policies, `up` records exactly why in
# $NETPOL/unavailable and carries on; tests that need enforcement fail with
# that reason.

NETPOL_VERSION=v0.8.0
NETPOL_MODULE=sigs.k8s.io/kube-network-policies
NETPOL_BIN=$CACHE_ROOT/k8s-tools/kube-network-policies-$NETPOL_VERSION/bin
NETPOL=$REAL/network-policies
NETPOL_PROC=kube-network-policies
# One nfnetlink queue per dev cluster: a second cluster (port offset) gets its own.
NETPOL_QUEUE=$((100 + PORT_OFFSET))
NETPOL_METRICS_PORT=$((16462 + PORT_OFFSET))
NETPOL_SA=kube-network-policies
# iptables chains (mangle table) of this node's queueing rules, and the ip6tables chain that drops IPv6.
NETPOL_CHAIN_OUT=CIF-NP-$REAL_BRIDGE
NETPOL_CHAIN_IN=CIF-NP-$REAL_BRIDGE-IN
NETPOL_CHAIN_V6=CIF-NP-$REAL_BRIDGE-V6
# The table upstream tries to create (its name is not configurable by flag).
NETPOL_NFT_TABLE=kube-network-policies

build_network_policies() {
  local stamp=$NETPOL_BIN/.built-kube-network-policies-$NETPOL_VERSION
  [[ -f $stamp && -x $NETPOL_BIN/kube-network-policies ]] && return 0
  ensure_go
  mkdir -p "$NETPOL_BIN"
  local tmp; tmp=$(mktemp -d "$NETPOL_BIN/.build.XXXXXX")
  log "building kube-network-policies $NETPOL_VERSION"
  local t0; t0=$(now_s)
  # The command's package is .../cmd, so `go install` names the binary `cmd`.
  (cd "$TOOLS_DIR" && GOWORK=off GOBIN=$tmp CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$NETPOL_MODULE/cmd@$NETPOL_VERSION") \
    || { rm -rf "$tmp"; return 1; }
  mv -f "$tmp/cmd" "$NETPOL_BIN/kube-network-policies"
  rm -rf "$tmp"
  touch "$stamp"
  log "built kube-network-policies in $(( $(now_s) - t0 ))s"
}

# netpol_nft_accepts NFT_RULE: whether this kernel accepts RULE in an inet postrouting chain (tried in a
# throwaway network namespace, so nothing on the host changes).
netpol_nft_accepts() {
  unshare --net sh -c "nft add table inet probe && nft add chain inet probe c '{ type filter hook postrouting priority 0; }' && nft add rule inet probe c $1" \
    >/dev/null 2>&1
}

# What the node lacks to enforce NetworkPolicies: sets NETPOL_BLOCKER (empty when nothing is missing)
# and NETPOL_OWN_TABLE=1 when upstream's own nftables table can load (the kernel has the nftables
# queue expression).
netpol_check() {
  NETPOL_BLOCKER=$(netpol_blocker)
  NETPOL_OWN_TABLE=0
  if [[ -z $NETPOL_BLOCKER ]] && netpol_nft_accepts 'queue num 1'; then NETPOL_OWN_TABLE=1; fi
}

netpol_blocker() {
  [[ -x $NETPOL_BIN/kube-network-policies ]] \
    || { echo "no kube-network-policies binary in $NETPOL_BIN (its build failed; see the go output of 'scripts/dev-cluster tools')"; return; }
  local c
  for c in nft iptables-nft iptables-nft-restore ip6tables-nft ip6tables-nft-restore unshare; do
    command -v "$c" >/dev/null 2>&1 || { echo "'$c' not found (apt-get install nftables iptables util-linux)"; return; }
  done
  [[ -r /proc/net/netfilter/nfnetlink_queue ]] \
    || { echo "the kernel has no nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE): kube-network-policies decides each new connection in userspace through it"; return; }
  [[ -r /proc/sys/net/bridge/bridge-nf-call-iptables && -r /proc/sys/net/bridge/bridge-nf-call-ip6tables ]] \
    || { echo "the kernel has no br_netfilter (CONFIG_BRIDGE_NETFILTER): traffic between pods on the bridge would never reach the policy hooks"; return; }
  unshare --net nft add table inet probe >/dev/null 2>&1 \
    || { echo "nftables does not work here (CONFIG_NF_TABLES, CONFIG_NF_TABLES_INET; 'unshare --net nft add table inet probe' fails)"; return; }
  # Our rules, in a throwaway namespace: conntrack state, socket owner, the NFQUEUE target. Needed
  # whatever upstream's table does, for packets to the node itself.
  unshare --net sh -c 'iptables-nft -t mangle -A POSTROUTING -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN &&
      iptables-nft -t mangle -A POSTROUTING -m owner --uid-owner 0 -j RETURN &&
      iptables-nft -t mangle -A POSTROUTING -j NFQUEUE --queue-num 1 &&
      ip6tables-nft -t mangle -A PREROUTING -j DROP' >/dev/null 2>&1 \
    || echo "iptables-nft cannot add the conntrack, owner and NFQUEUE rules the node's packet queueing needs (kernel: CONFIG_NFT_COMPAT, CONFIG_NETFILTER_XT_MATCH_CONNTRACK, CONFIG_NETFILTER_XT_MATCH_OWNER, CONFIG_NETFILTER_XT_TARGET_NFQUEUE)"
}

# The rules that hand packets to the queue, replaced in one transaction (iptables-nft-restore
# --noflush flushes only the chains it declares), then hooked in once.
netpol_rules_apply() {
  local net=$REAL_POD_NET.0/24 queue=$NETPOL_QUEUE
  {
    echo '*mangle'
    echo ":$NETPOL_CHAIN_IN - [0:0]"
    echo "-A $NETPOL_CHAIN_IN -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN"
    echo "-A $NETPOL_CHAIN_IN -m comment --comment \"dev-cluster $STATE: pod to node, decided by kube-network-policies\" -j NFQUEUE --queue-num $queue"
    if (( ! NETPOL_OWN_TABLE )); then
      echo ":$NETPOL_CHAIN_OUT - [0:0]"
      echo "-A $NETPOL_CHAIN_OUT -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN"
      # upstream's "meta skuid 0 accept": the node's root daemons (kubelet probes) are not filtered.
      echo "-A $NETPOL_CHAIN_OUT -m owner --uid-owner 0 -j RETURN"
      echo "-A $NETPOL_CHAIN_OUT -s $net -m comment --comment \"dev-cluster $STATE: kube-network-policies\" -j NFQUEUE --queue-num $queue"
      echo "-A $NETPOL_CHAIN_OUT -d $net -m comment --comment \"dev-cluster $STATE: kube-network-policies\" -j NFQUEUE --queue-num $queue"
    fi
    echo COMMIT
  } | iptables-nft-restore --noflush || return 1
  printf '%s\n' '*mangle' ":$NETPOL_CHAIN_V6 - [0:0]" \
    "-A $NETPOL_CHAIN_V6 -m comment --comment \"dev-cluster $STATE: the pod network is IPv4-only\" -j DROP" COMMIT \
    | ip6tables-nft-restore --noflush || return 1
  ip6tables-nft -t mangle -C PREROUTING -i "$REAL_BRIDGE" -j "$NETPOL_CHAIN_V6" 2>/dev/null \
    || ip6tables-nft -t mangle -A PREROUTING -i "$REAL_BRIDGE" -j "$NETPOL_CHAIN_V6" || return 1
  iptables-nft -t mangle -C INPUT -i "$REAL_BRIDGE" -j "$NETPOL_CHAIN_IN" 2>/dev/null \
    || iptables-nft -t mangle -A INPUT -i "$REAL_BRIDGE" -j "$NETPOL_CHAIN_IN" || return 1
  if (( ! NETPOL_OWN_TABLE )); then
    iptables-nft -t mangle -C POSTROUTING -j "$NETPOL_CHAIN_OUT" 2>/dev/null \
      || iptables-nft -t mangle -A POSTROUTING -j "$NETPOL_CHAIN_OUT" || return 1
  fi
}

netpol_rules_remove() {
  command -v iptables-nft >/dev/null 2>&1 || return 0
  local hook chain
  for hook in "INPUT -i $REAL_BRIDGE -j $NETPOL_CHAIN_IN" "POSTROUTING -j $NETPOL_CHAIN_OUT"; do
    # shellcheck disable=SC2086 # the hook is several words on purpose
    while iptables-nft -t mangle -D $hook 2>/dev/null; do :; done
  done
  for chain in "$NETPOL_CHAIN_IN" "$NETPOL_CHAIN_OUT"; do
    if iptables-nft -t mangle -S "$chain" >/dev/null 2>&1; then
      iptables-nft -t mangle -F "$chain" && iptables-nft -t mangle -X "$chain" \
        || log "could not remove iptables chain mangle/$chain"
    fi
  done
  while ip6tables-nft -t mangle -D PREROUTING -i "$REAL_BRIDGE" -j "$NETPOL_CHAIN_V6" 2>/dev/null; do :; done
  if ip6tables-nft -t mangle -S "$NETPOL_CHAIN_V6" >/dev/null 2>&1; then
    ip6tables-nft -t mangle -F "$NETPOL_CHAIN_V6" && ip6tables-nft -t mangle -X "$NETPOL_CHAIN_V6" \
      || log "could not remove ip6tables chain mangle/$NETPOL_CHAIN_V6"
  fi
}

netpol_queue_bound() {
  awk -v q="$NETPOL_QUEUE" '$1 == q { found = 1 } END { exit !found }' /proc/net/netfilter/nfnetlink_queue
}

# Its identity: a ServiceAccount with upstream's ClusterRole (list/watch pods, namespaces,
# networkpolicies), and a token where client-go's in-cluster config looks for it.
netpol_identity() {
  kc apply -f - >/dev/null <<EOF || return 1
apiVersion: v1
kind: ServiceAccount
metadata:
  name: $NETPOL_SA
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: $NETPOL_SA
rules:
- apiGroups: [""]
  resources: [pods, namespaces]
  verbs: [list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: $NETPOL_SA
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: $NETPOL_SA
subjects:
- kind: ServiceAccount
  name: $NETPOL_SA
  namespace: kube-system
EOF
  local sa=$NETPOL/run/secrets/kubernetes.io/serviceaccount
  mkdir -p "$sa"
  chmod 700 "$NETPOL/run"
  (umask 077
    kc create token "$NETPOL_SA" -n kube-system --duration "$WORKER_TOKEN_DURATION" > "$sa/token.new" || exit 1
    mv -f "$sa/token.new" "$sa/token"
    cp "$PKI/ca.crt" "$sa/ca.crt"
    printf kube-system > "$sa/namespace") || return 1
}

# netpol_up: start enforcing, or record why not; never fails the caller.
netpol_up() {
  rm -f "$NETPOL/unavailable"
  if ! real_node_ready; then
    netpol_skip "there is no real node ($(cat "$REAL/unavailable" 2>/dev/null || echo "node $REAL_NODE_NAME is not Ready"))"
    return 0
  fi
  netpol_check
  if [[ -n $NETPOL_BLOCKER ]]; then netpol_skip "$NETPOL_BLOCKER"; return 0; fi
  if ! (netpol_start); then
    local reason; reason=$(cat "$NETPOL/failed" 2>/dev/null || echo "see $LOGS/$NETPOL_PROC.log")
    netpol_down
    netpol_skip "kube-network-policies did not start: $reason"
  fi
  return 0
}

netpol_skip() {
  mkdir -p "$NETPOL"
  printf '%s\n' "$1" > "$NETPOL/unavailable"
  log "NO NETWORKPOLICY ENFORCEMENT: $1"
  log "carrying on: pods run, but NetworkPolicies are only API objects (the attack tests will fail with this reason)"
}

# In a subshell: a failure anywhere ends it; netpol_up cleans up.
netpol_start() {
  set -e
  mkdir -p "$NETPOL"
  rm -f "$NETPOL/failed"
  fail() { printf '%s\n' "$1" > "$NETPOL/failed"; log "network policies: $1"; exit 1; }
  if is_running "$NETPOL_PROC" && netpol_queue_bound; then
    netpol_rules_apply || fail "could not install the queueing rules (iptables-nft -t mangle)"
    log "$NETPOL_PROC already running (pid $(pid_of "$NETPOL_PROC"))"
    return 0
  fi
  check_port_free "$NETPOL_PROC" "$NETPOL_METRICS_PORT"
  netpol_identity || fail "could not create its ServiceAccount, ClusterRole and token"
  # Pods on the bridge must pass the IP hooks (br_netfilter) or pod-to-pod traffic is never seen.
  local family
  for family in iptables ip6tables; do
    if [[ $(cat "/proc/sys/net/bridge/bridge-nf-call-$family") != 1 ]]; then
      [[ -f $NETPOL/bridge-nf-call-$family.saved ]] \
        || cat "/proc/sys/net/bridge/bridge-nf-call-$family" > "$NETPOL/bridge-nf-call-$family.saved"
      echo 1 > "/proc/sys/net/bridge/bridge-nf-call-$family" || fail "could not set net.bridge.bridge-nf-call-$family=1"
    fi
  done
  # Started through a link in the state dir (so is_running recognises it), in a mount namespace of its
  # own where /run holds only the token: client-go's in-cluster config reads the fixed path
  # /var/run/secrets/kubernetes.io/serviceaccount, and nothing else of /run is needed. NRI: containerd
  # 1.6 has none, and v0.8.0 does not pass --disable-nri on, so it finds no socket in this /run, logs
  # "nri plugin exited" and takes pod IPs from the apiserver alone.
  ln -sfn "$NETPOL_BIN/kube-network-policies" "$NETPOL/kube-network-policies"
  # shellcheck disable=SC2016 # $1 and $@ belong to the inner shell
  start_proc "$NETPOL_PROC" env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$APISERVER_PORT" \
    unshare --mount --propagation private \
    sh -c 'mount --bind "$1" /run && shift && exec "$@"' sh "$NETPOL/run" \
    "$NETPOL/kube-network-policies" \
    --hostname-override "$REAL_NODE_NAME" \
    --nfqueue-id "$NETPOL_QUEUE" \
    --metrics-bind-address "127.0.0.1:$NETPOL_METRICS_PORT" \
    --netfilter-bug-1766-fix=false \
    --disable-nri \
    --v=2 || fail "kube-network-policies exited at once (see $LOGS/$NETPOL_PROC.log)"
  local deadline=$(( $(now_s) + READY_TIMEOUT ))
  until netpol_queue_bound; do
    is_running "$NETPOL_PROC" || fail "kube-network-policies exited (last lines of $LOGS/$NETPOL_PROC.log: $(tail -n 5 "$LOGS/$NETPOL_PROC.log" | tr '\n' ' '))"
    (( $(now_s) < deadline )) || fail "kube-network-policies did not listen on nfnetlink queue $NETPOL_QUEUE within ${READY_TIMEOUT}s (see $LOGS/$NETPOL_PROC.log)"
    sleep 0.3
  done
  netpol_rules_apply || fail "could not install the queueing rules (iptables-nft -t mangle)"
  printf '%s\n' "$([[ $NETPOL_OWN_TABLE == 1 ]] && echo "its own nftables table (forwarded), iptables-nft NFQUEUE (to the node)" \
    || echo "iptables-nft NFQUEUE (the kernel has no nftables queue expression, CONFIG_NFT_QUEUE)")" > "$NETPOL/diversion"
  log "NetworkPolicies enforced on $REAL_NODE_NAME by kube-network-policies $NETPOL_VERSION (queue $NETPOL_QUEUE)"
}

# Stop enforcing and remove what netpol_start added. Rules first: with the queue's reader gone they
# would drop every new pod connection.
netpol_down() {
  [[ -d $NETPOL ]] || return 0
  netpol_rules_remove
  if is_running "$NETPOL_PROC"; then
    # SIGINT is what it handles: it deletes its nftables table, waits 5 s and exits (SIGTERM would not).
    local pid i; pid=$(pid_of "$NETPOL_PROC")
    kill -INT "$pid" 2>/dev/null || true
    for i in $(seq 1 80); do is_running "$NETPOL_PROC" || break; sleep 0.1; done
    is_running "$NETPOL_PROC" || log "stopped $NETPOL_PROC (pid $pid)"
  fi
  stop_proc "$NETPOL_PROC"
  if command -v nft >/dev/null 2>&1 && nft list table inet "$NETPOL_NFT_TABLE" >/dev/null 2>&1; then
    nft delete table inet "$NETPOL_NFT_TABLE" 2>/dev/null || log "could not delete nftables table inet $NETPOL_NFT_TABLE"
  fi
  local family
  for family in iptables ip6tables; do
    if [[ -f $NETPOL/bridge-nf-call-$family.saved ]]; then
      cat "$NETPOL/bridge-nf-call-$family.saved" > "/proc/sys/net/bridge/bridge-nf-call-$family" 2>/dev/null || true
      rm -f "$NETPOL/bridge-nf-call-$family.saved"
    fi
  done
  rm -f "$NETPOL/diversion"
}

netpol_status() {
  if [[ -f $NETPOL/unavailable ]]; then
    printf '%-24s none: %s\n' "$NETPOL_PROC" "$(cat "$NETPOL/unavailable")"
    return 0
  fi
  if is_running "$NETPOL_PROC" && netpol_queue_bound; then
    printf '%-24s running (pid %s, %s, queue %s; packets queued by %s)\n' "$NETPOL_PROC" \
      "$(pid_of "$NETPOL_PROC")" "$NETPOL_VERSION" "$NETPOL_QUEUE" "$(cat "$NETPOL/diversion" 2>/dev/null || echo '?')"
    return 0
  fi
  printf '%-24s stopped (NetworkPolicies are not enforced; new pod connections are dropped until it runs again: scripts/dev-cluster up)\n' "$NETPOL_PROC"
  return 1
}
