#!/usr/bin/env bash
# echo-probe monitor through a rollout, in the cluster in miniature (netns_cluster.sh):
# three echod replicas at 10.250.8.11-13 behind one name (echod.test, the test's own hosts
# file), and `echo-probe monitor` in the client namespace holding 2 persistent connections
# to each of them.
#
# Phase 1, a rollout: each replica in turn gets SIGTERM (drain-timeout 1s), exits 0 and is
# started again on the same address; the monitor must see every break, each `graceful`,
# lose no message on its persistent connections, and measure each outage (break to the
# next verified echo on the new replica).
# Phase 2: replica 2 is frozen (SIGSTOP) so that the monitor's next messages sit unread in
# its sockets, then SIGKILLed: the report names that address with non-graceful breaks.
# Phase 3: replica 3 leaves DNS (the hosts file changes) while its connections are open,
# then drains: those connections stay until the drain ends them, gracefully, and nothing
# new is opened to it.
# The monitor ends on SIGTERM (exit 0) and its --report file is checked number by number.
source "$(dirname "$0")/netns_cluster.sh"
netns_cluster_init "mr$$" 10.250.8 3
replica_args=(--shutdown-delay 0s --drain-timeout 1s)
for i in "${replicas[@]}"; do start_replica "$i" "${replica_args[@]}"; done
for i in "${replicas[@]}"; do wait_replica_ready "$i"; done
log "three replicas ready at $subnet.11-13"

printf '127.0.0.1 localhost\n%s.11 echod.test\n%s.12 echod.test\n%s.13 echod.test\n' \
  "$subnet" "$subnet" "$subnet" >"$TMP/hosts"
hosts_file_prefix "$TMP/hosts"
# A message in flight when a replica closes is lost (and rightly not `graceful`). So each
# replica's two connections (opened together, so sending together) send every 3 s and the
# SIGTERM lands right after a round: the 1 s drain ends between two rounds.
# --timeout 5s: the frozen replica of phase 2 must still hold the messages when it is killed.
"${HOSTS_PREFIX[@]}" "$ECHO_PROBE_BINARY" monitor --listen 127.0.0.1:9707 \
  --persistent 2 --persistent-interval 3s --interval 500ms --resolve-interval 1s \
  --timeout 5s --report "$TMP/report.json" tcp://echod.test:7007 >"$TMP/monitor.log" 2>&1 &
monitor_pid=$!; pids+=("$monitor_pid")

# metric NAME LABEL-SUBSTRING...: the sum of the monitor's samples of NAME matching all.
metric() {
  local name="$1"; shift
  in_ns "$ns_client" curl -fsS --max-time 2 http://127.0.0.1:9707/metrics | python3 -c '
import sys
name, want = sys.argv[1], sys.argv[2:]
total = 0.0
for line in sys.stdin:
    if line.startswith(name + "{") and all(w in line.rsplit("}", 1)[0] for w in want):
        total += float(line.rsplit(" ", 1)[1])
print(int(total))' "$name" "$@"
}
at_least() { [ "$(metric "$2" "${@:3}")" -ge "$1" ]; }
addr() { echo "address=\"$subnet.1$1:7007\""; }

wait_for 20 "the monitor probes all three addresses" at_least 3 echo_probe_addresses \
  || die "monitor does not see three addresses: $(tail -n 5 "$TMP/monitor.log")"
for i in "${replicas[@]}"; do
  wait_for 20 "2 persistent connections to replica $i" at_least 2 echo_probe_persistent_connections "$(addr "$i")" \
    || die "no persistent connections to replica $i"
done
log "monitor holds 2 persistent connections to each replica"

# --- phase 1: a rollout, one replica after another ----------------------------------------
for i in "${replicas[@]}"; do
  verified_before="$(metric echo_probe_verified_total "$(addr "$i")" 'mode="persistent"')"
  wait_for 10 "a round of messages verified on replica $i" at_least $((verified_before + 2)) \
    echo_probe_verified_total "$(addr "$i")" 'mode="persistent"' || die "no traffic on replica $i"
  breaks_before="$(metric echo_probe_breaks_total "$(addr "$i")")"
  log "SIGTERM to replica $i (pid ${echod_pid[$i]})"
  kill -TERM "${echod_pid[$i]}"
  rc=0; timeout 15 tail --pid="${echod_pid[$i]}" -f /dev/null || die "replica $i did not exit after its drain"
  wait "${echod_pid[$i]}" || rc=$?
  [ "$rc" -eq 0 ] || die "replica $i exited $rc after SIGTERM, want 0"
  wait_for 10 "2 breaks on replica $i" at_least $((breaks_before + 2)) echo_probe_breaks_total "$(addr "$i")" \
    || die "the monitor saw no break on replica $i"
  start_replica "$i" "${replica_args[@]}"
  wait_replica_ready "$i"
  wait_for 20 "persistent connections back on replica $i" at_least 2 echo_probe_persistent_connections "$(addr "$i")" \
    || die "the monitor did not reconnect to replica $i"
  log "replica $i rolled: $(metric echo_probe_breaks_total "$(addr "$i")" 'class="graceful"') graceful breaks"
done
# Each outage ends with a verified echo on the new replica: reconnect_seconds counts them.
wait_for 10 "6 outages measured" at_least 6 echo_probe_reconnect_seconds_count || die "outages not measured"

# --- phase 2: SIGKILL with the monitor's messages unread in replica 2 -------------------
kill -STOP "${echod_pid[2]}"
sent_now="$(metric echo_probe_messages_total "$(addr 2)" 'mode="persistent"')"
wait_for 10 "monitor messages sit unread in frozen replica 2" at_least $((sent_now + 2)) \
  echo_probe_messages_total "$(addr 2)" 'mode="persistent"' || die "no message went out to the frozen replica"
log "SIGKILL to replica 2 (pid ${echod_pid[2]}) with messages in flight"
kill -KILL "${echod_pid[2]}"
wait "${echod_pid[2]}" 2>/dev/null || true
wait_for 10 "non-graceful breaks on replica 2" at_least 1 echo_probe_breaks_total "$(addr 2)" 'class="reset"' \
  || die "the kill was not seen as a reset: $(tail -n 5 "$TMP/monitor.log")"

# --- phase 3: replica 3 leaves DNS first, then drains (a terminating pod) ----------------
# Its open persistent connections stay until the drain ends them (graceful, recorded on
# the departed address); nothing new is opened to it.
printf '127.0.0.1 localhost\n%s.11 echod.test\n%s.12 echod.test\n' "$subnet" "$subnet" >"$TMP/hosts"
addresses_are() { [ "$(metric echo_probe_addresses)" -eq "$1" ]; }
wait_for 10 "replica 3 gone from the monitor's addresses" addresses_are 2 || die "address not dropped"
at_least 2 echo_probe_persistent_connections "$(addr 3)" || die "replica 3's connections were closed by the monitor"
verified_before="$(metric echo_probe_verified_total "$(addr 3)" 'mode="persistent"')"
wait_for 10 "a round on the departed replica 3" at_least $((verified_before + 2)) \
  echo_probe_verified_total "$(addr 3)" 'mode="persistent"' || die "no traffic on the departed replica"
kill -TERM "${echod_pid[3]}"
rc=0; timeout 15 tail --pid="${echod_pid[3]}" -f /dev/null || die "replica 3 did not exit after its drain"
wait "${echod_pid[3]}" || rc=$?
[ "$rc" -eq 0 ] || die "replica 3 exited $rc after SIGTERM, want 0"
wait_for 10 "the drain's breaks on the departed replica 3" at_least 4 echo_probe_breaks_total "$(addr 3)" 'class="graceful"' \
  || die "the drain of the departed replica was not seen"
attempts_r3="$(metric echo_probe_errors_total "$(addr 3)")"
fresh_r1="$(metric echo_probe_messages_total "$(addr 1)" 'mode="new"')"
wait_for 10 "three more fresh probes on replica 1" at_least $((fresh_r1 + 3)) \
  echo_probe_messages_total "$(addr 1)" 'mode="new"' || die "fresh probes stopped"
[ "$(metric echo_probe_errors_total "$(addr 3)")" -eq "$attempts_r3" ] \
  || die "the monitor kept connecting to an address that left DNS"
[ "$(metric echo_probe_persistent_connections "$(addr 3)")" -eq 0 ] || die "connections to replica 3 still counted"
log "departed replica 3: its drain seen (graceful), no reconnect"

kill -TERM "$monitor_pid"
rc=0; wait "$monitor_pid" || rc=$?
[ "$rc" -eq 0 ] || die "monitor exited $rc on SIGTERM, want 0"
python3 - "$TMP/report.json" "$subnet" <<'PY' || die "the report is wrong: $(cat "$TMP/report.json")"
import json, sys
r = json.load(open(sys.argv[1])); net = sys.argv[2]
t = r["targets"][0]
assert t["target"] == "tcp://echod.test:7007", t["target"]
addrs = {a["address"]: a for a in t["addresses"]}
want = {f"{net}.1{i}:7007" for i in (1, 2, 3)}
assert set(addrs) == want, sorted(addrs)
by_addr = {}
for b in t["breaks"]:
    by_addr.setdefault(b["address"], []).append(b)
print("rollout report (breaks):")
for b in t["breaks"]:
    print(f"  {b['time']} {b['address']:>18} {b['class']:<8} age {b['connection_age_s']:7.3f}s outage {b['outage_ms']} ms")
for i in (1, 3):
    a = f"{net}.1{i}:7007"
    bs = by_addr[a][:2]  # the rollout (replica 3 also drains after leaving DNS: phase 3)
    assert [b["class"] for b in bs] == ["graceful", "graceful"], (a, bs)
    assert all(b["outage_ms"] is not None and b["outage_ms"] > 0 for b in bs), (a, bs)
    p = addrs[a]["modes"]["persistent"]
    # Nothing lost; the only errors are reconnects refused while the replica was away.
    assert p["lost"] == 0 and p["errors"] == p["error_classes"]["refused"], (a, p)
    assert p["verified"] > 0 and p["messages"] == p["verified"], (a, p)
a2 = f"{net}.12:7007"
classes = [b["class"] for b in by_addr[a2]]
assert classes[:2] == ["graceful", "graceful"], classes           # phase 1: the drain
assert len(classes) >= 3 and all(c != "graceful" for c in classes[2:]), classes  # phase 2: the kill
assert all(b["outage_ms"] is not None for b in by_addr[a2][:2]), by_addr[a2]
p2 = addrs[a2]["modes"]["persistent"]
assert p2["lost"] >= 2, p2  # the messages that sat unread in the killed replica
a3 = f"{net}.13:7007"
assert [b["class"] for b in by_addr[a3]] == ["graceful"] * 4, by_addr[a3]
assert all(b["outage_ms"] is None for b in by_addr[a3][2:]), by_addr[a3]  # never came back
assert addrs[a3]["probed"] is False and addrs[f"{net}.11:7007"]["probed"] is True, addrs[a3]
totals = t["totals"]
assert totals["break_classes"]["graceful"] == 8, totals
assert r["disrupted"] is True
print("totals:", json.dumps(totals))
PY
echo "monitor rollout: ok"
