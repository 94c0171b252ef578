# A "cluster in miniature" for the e2e shell tests (sourced, not run): echod replicas,
# each a "pod" in its own network namespace with its own address, joined by a bridge in a
# hub namespace, and a client namespace for the tools that probe them. Addresses exist
# only on interfaces the test creates inside namespaces it makes; nothing leaves them.
#
#   ns hub:    br0 (no address) <- veth -> ns r1/r2/r3: eth0 SUBNET.11-13, echod :7007 :8080
#                               <- veth -> ns client: eth0 SUBNET.2
#
# Service discovery stand-in: hosts_file_prefix runs a command in the client namespace with
# a hosts file bind-mounted over /etc/hosts in a private mount namespace of that command
# only (unshare --mount); the machine's /etc/hosts is never touched.
#
# Use: netns_cluster_init TAG SUBNET N   (sets TMP, ns_client, replicas=(1..N)), then
# start_replica I ARGS..., wait_replica_ready I, in_ns NS CMD..., hosts_file_prefix FILE
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../deploy" && pwd)/lib.sh"

netns_cluster_cleanup() {
  local rc=$?
  set +e
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  # Deleting a namespace destroys the veth ends and the bridge inside it.
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [ "$rc" -ne 0 ]; then
    for f in "$TMP"/*.log; do echo "--- $(basename "$f") (last 15 lines)"; tail -n 15 "$f"; done >&2
  fi
  rm -rf "$TMP"
  exit "$rc"
}

in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

netns_attach() {  # netns_attach NS ADDRESS: a veth from the hub bridge to eth0 in NS
  local ns="$1" addr="$2" port="p${#namespaces[@]}"
  ip netns add "$ns"; namespaces+=("$ns")
  ip -n "$ns_hub" link add "$port" type veth peer name eth0 netns "$ns"
  ip -n "$ns_hub" link set "$port" master br0 up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
}

netns_cluster_init() {  # netns_cluster_init TAG SUBNET N
  need ip unshare curl python3
  : "${ECHOD_BINARY:?}" "${ECHO_PROBE_BINARY:?}"
  [ -x "$ECHOD_BINARY" ] || die "echod not built: $ECHOD_BINARY"
  [ -x "$ECHO_PROBE_BINARY" ] || die "echo-probe not built: $ECHO_PROBE_BINARY"
  [ "$(id -u)" -eq 0 ] || die "needs root for network namespaces"
  tag="$1"; subnet="$2"
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/echod-$tag.XXXXXX")"
  ns_hub="$tag-hub"; ns_client="$tag-client"
  replicas=($(seq 1 "$3"))
  pids=(); namespaces=()
  declare -gA echod_pid
  trap netns_cluster_cleanup EXIT
  trap 'exit 130' INT TERM
  ip netns add "$ns_hub"; namespaces+=("$ns_hub")
  ip -n "$ns_hub" link add br0 type bridge
  ip -n "$ns_hub" link set br0 up
  netns_attach "$ns_client" "$subnet.2"
  for i in "${replicas[@]}"; do netns_attach "$tag-r$i" "$subnet.1$i"; done
  log "namespaces: ${namespaces[*]}"
}

start_replica() {  # start_replica I ARGS...: echod in ns rI on SUBNET.1I :7007 and :8080
  local i="$1"; shift
  # Started with ip netns exec directly (not a shell function) so $! is echod itself.
  ip netns exec "$tag-r$i" "$ECHOD_BINARY" --listen "$subnet.1$i:7007" --admin-listen "$subnet.1$i:8080" \
    --log-format text "$@" >>"$TMP/echod-r$i.log" 2>&1 &
  echod_pid[$i]=$!; pids+=("$!")
}

ready() { in_ns "$ns_client" curl -fsS --max-time 1 -o /dev/null "http://$1:8080/readyz"; }

wait_replica_ready() {
  wait_for 20 "replica $1 /readyz 200 from the client namespace" ready "$subnet.1$1" || die "replica $1 not ready"
}

# hosts_file_prefix FILE: sets HOSTS_PREFIX, a command prefix that runs what follows in
# the client namespace seeing FILE as /etc/hosts. An exec chain, and an array rather than
# a function, so that `"${HOSTS_PREFIX[@]}" CMD &` makes `$!` CMD itself (a backgrounded
# function would be a subshell: signals sent to `$!` would miss CMD).
hosts_file_prefix() {
  HOSTS_PREFIX=(ip netns exec "$ns_client" unshare --mount --propagation private --
    sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$1")
}
