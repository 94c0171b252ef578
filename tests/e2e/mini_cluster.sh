#!/usr/bin/env bash
# "A cluster in miniature": three echod replicas, each a "pod" in its own network namespace
# with its own address, joined by a bridge in a hub namespace; a client namespace runs one
# real Prometheus (1s scrapes of all three) and echo-probe. Addresses exist only on
# interfaces this test creates inside namespaces it makes; nothing leaves them.
#
#   ns hub:    br0 (no address) <- veth -> ns r1/r2/r3: eth0 10.250.7.11-13, echod :7007 :8080
#                               <- veth -> ns client: eth0 10.250.7.2, Prometheus 127.0.0.1:9090
#
# Service discovery stand-in: the name echod.test resolves to the three addresses through a
# hosts file bind-mounted over /etc/hosts in a private mount namespace of echo-probe only
# (unshare --mount); the machine's /etc/hosts is never touched.
#
# It checks: up == 1 for all three targets; echo-probe --all-addresses spreads connections
# over all three and verifies every byte per address; then replica 2 gets SIGTERM mid-run
# and /readyz turns 503, Prometheus sees echod_shutting_down 1 and then up == 0, echod exits
# 0 after draining, and the probe still ends with zero errors and zero mismatches (no byte
# lost by the connections that were open on replica 2).
source "$(cd "$(dirname "$0")/../deploy" && pwd)/lib.sh"
need ip unshare prometheus curl python3
: "${ECHOD_BINARY:?}" "${ECHO_PROBE_BINARY:?}"
[ -x "$ECHOD_BINARY" ] || die "echod not built: $ECHOD_BINARY"
[ -x "$ECHO_PROBE_BINARY" ] || die "echo-probe not built: $ECHO_PROBE_BINARY"
[ "$(id -u)" -eq 0 ] || die "needs root for network namespaces"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/echod-mini.XXXXXX")"
tag="ed$$"
ns_hub="$tag-hub"; ns_client="$tag-client"
replicas=(1 2 3)
subnet="10.250.7"
pids=()
namespaces=()

cleanup() {
  local rc=$?
  set +e
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  # Deleting a namespace destroys the veth ends and the bridge inside it.
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  [ "$rc" -eq 0 ] || show_logs "$TMP" 15
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

# --- the network ----------------------------------------------------------------------
ip netns add "$ns_hub"; namespaces+=("$ns_hub")
ip -n "$ns_hub" link add br0 type bridge
ip -n "$ns_hub" link set br0 up
attach() {  # attach NS ADDRESS: a veth from the hub bridge to eth0 in NS
  local ns="$1" addr="$2" port="p${#namespaces[@]}"
  ip netns add "$ns"; namespaces+=("$ns")
  ip -n "$ns_hub" link add "$port" type veth peer name eth0 netns "$ns"
  ip -n "$ns_hub" link set "$port" master br0 up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
}
attach "$ns_client" "$subnet.2"
for i in "${replicas[@]}"; do attach "$tag-r$i" "$subnet.1$i"; done
log "namespaces: ${namespaces[*]}"

# --- three echod replicas -------------------------------------------------------------
declare -A echod_pid
for i in "${replicas[@]}"; do
  # Started with ip netns exec directly (not a shell function) so $! is echod itself.
  ip netns exec "$tag-r$i" "$ECHOD_BINARY" --listen "$subnet.1$i:7007" --admin-listen "$subnet.1$i:8080" \
    --shutdown-delay 2s --drain-timeout 20s --log-format text >"$TMP/echod-r$i.log" 2>&1 &
  echod_pid[$i]=$!; pids+=("$!")
done
ready() { in_ns "$ns_client" curl -fsS --max-time 1 -o /dev/null "http://$1:8080/readyz"; }
for i in "${replicas[@]}"; do
  wait_for 20 "replica $i /readyz 200 from the client namespace" ready "$subnet.1$i" || die "replica $i not ready"
done
log "three replicas ready at $subnet.11-13"

# --- Prometheus in the client namespace -----------------------------------------------
cat >"$TMP/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: echod
    static_configs:
      - targets: ["$subnet.11:8080", "$subnet.12:8080", "$subnet.13:8080"]
YAML
ip netns exec "$ns_client" prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
  --web.listen-address=127.0.0.1:9090 --log.level=warn >"$TMP/prometheus.log" 2>&1 &
pids+=("$!")
query() {  # query PROMQL: prints "instance value" lines
  in_ns "$ns_client" curl -fsS --max-time 2 --get --data-urlencode "query=$1" \
    http://127.0.0.1:9090/api/v1/query | python3 -c '
import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    print(r["metric"].get("instance", "-"), r["value"][1])'
}
count_up() { [ "$(query 'up{job="echod"} == 1' | wc -l)" -eq "$1" ]; }
wait_for 60 "Prometheus: up == 1 for all three replicas" count_up 3 || die "not every target is up: $(query up)"
log "Prometheus scrapes all three: $(query 'up' | tr '\n' ' ')"
[ "$(query 'echod_connections_active' | wc -l)" -eq 3 ] || die "echod_connections_active not scraped from all three"

# --- echo-probe spread over the three addresses ---------------------------------------
printf '127.0.0.1 localhost\n%s.11 echod.test\n%s.12 echod.test\n%s.13 echod.test\n' \
  "$subnet" "$subnet" "$subnet" >"$TMP/hosts"
# echo-probe in the client namespace, with the test's hosts file (exec chain: $! is the probe).
ip netns exec "$ns_client" unshare --mount --propagation private -- \
  sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$TMP/hosts" "$ECHO_PROBE_BINARY" \
  tcp --all-addresses -c 6 -d 18s -r 600 -s 256 --json -q echod.test:7007 \
  >"$TMP/probe.json" 2>"$TMP/probe.log" &
probe_pid=$!; pids+=("$probe_pid")

# Wait until replica 2 really holds probe connections, then stop it mid-run.
active_on_r2() {
  local n
  n="$(in_ns "$ns_client" curl -fsS --max-time 1 "http://$subnet.12:8080/metrics" \
      | awk '$1 == "echod_connections_active" {print int($2)}')"
  [ "${n:-0}" -ge 1 ]
}
wait_for 10 "probe connections on replica 2" active_on_r2 || die "replica 2 never saw the probe's connections"
# ...and has echoed traffic on them (16 KiB), so the signal lands mid-stream.
echoed_on_r2() {
  local n
  n="$(in_ns "$ns_client" curl -fsS --max-time 1 "http://$subnet.12:8080/metrics" \
      | awk '$1 == "echod_received_bytes_total{protocol=\"tcp\"}" {print int($2)}')"
  [ "${n:-0}" -ge 16384 ]
}
wait_for 10 "echoed bytes on replica 2" echoed_on_r2 || die "replica 2 echoed nothing"
log "SIGTERM to replica 2 (pid ${echod_pid[2]}) while the probe runs"
kill -TERM "${echod_pid[2]}"

not_ready() {
  local code
  code="$(in_ns "$ns_client" curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://$subnet.12:8080/readyz")"
  [ "$code" = 503 ]
}
wait_for 10 "replica 2 /readyz 503 after SIGTERM" not_ready || die "/readyz did not turn 503"
log "replica 2 /readyz: 503"
for i in 1 3; do ready "$subnet.1$i" || die "replica $i stopped being ready"; done

shutting_down_seen() { [ "$(query 'max_over_time(echod_shutting_down{instance="'"$subnet.12:8080"'"}[1m]) == 1' | wc -l)" -eq 1 ]; }
wait_for 10 "Prometheus sees echod_shutting_down 1 on replica 2" shutting_down_seen \
  || die "echod_shutting_down never 1 for replica 2"
log "Prometheus saw echod_shutting_down 1 on replica 2"

# The probe ends at 18s; its connections to replica 2 then close and the drain ends.
rc=0; timeout 40 tail --pid="$probe_pid" -f /dev/null || die "echo-probe still running after 40s"
wait "$probe_pid" || rc=$?
cat "$TMP/probe.json"
[ "$rc" -eq 0 ] || die "echo-probe exited $rc: $(tail -n 5 "$TMP/probe.log")"
python3 - "$TMP/probe.json" "$subnet" <<'PY' || die "per-address report is wrong"
import json, sys
r = json.load(open(sys.argv[1])); net = sys.argv[2]
assert r["errors"] == 0 and r["mismatches"] == 0, r
assert r["sent"] == r["received"] > 0, r
per = {p["address"].rsplit(":", 1)[0].strip("[]"): p for p in r["per_address"]}
want = {f"{net}.1{i}" for i in (1, 2, 3)}
assert set(per) == want, f"addresses {sorted(per)} != {sorted(want)}"
for a, p in sorted(per.items()):
    assert p["connections"] >= 1 and p["errors"] == 0, (a, p)
    assert p["sent"] == p["received"] > 0 and p["verified_bytes"] > 0, (a, p)
    print(f"  {a}: {p['connections']} conn, {p['sent']} msgs sent and verified, {p['verified_bytes']} bytes")
PY

rc=0; timeout 30 tail --pid="${echod_pid[2]}" -f /dev/null || die "replica 2 did not exit within its drain window"
wait "${echod_pid[2]}" || rc=$?
[ "$rc" -eq 0 ] || die "replica 2 exited $rc after SIGTERM, want 0"
grep -Eq 'draining.*active_connections=[1-9]' "$TMP/echod-r2.log" \
  || die "replica 2 had no open connection when its listeners closed: $(grep -i drain "$TMP/echod-r2.log")"
grep -q 'drained=true' "$TMP/echod-r2.log" || die "replica 2 did not drain cleanly"
log "replica 2 drained its open connections and exited 0"

target_down() { [ "$(query 'up{instance="'"$subnet.12:8080"'"} == 0' | wc -l)" -eq 1 ]; }
wait_for 15 "Prometheus: replica 2 target down" target_down || die "replica 2 still up: $(query up)"
count_up 2 || die "replicas 1 and 3 should stay up: $(query up)"
log "Prometheus: $(query 'up' | tr '\n' ' ')"
echo "mini cluster: ok"
