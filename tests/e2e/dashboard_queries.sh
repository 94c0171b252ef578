#!/usr/bin/env bash
# Every PromQL expression of the Grafana dashboard, run against a real Prometheus that scrapes
# a loaded echod. echod runs on loopback with a config file and the downward-API variables;
# Prometheus (1s scrapes) gives the target the `namespace` and `pod` labels the chart's
# ServiceMonitor adds in a cluster; echo-probe drives persistent and one-message connections.
# When this build's echo-probe has the `monitor` command, a monitor probes echod too and is
# scraped as a second job, so the monitor row is checked for data as well.
#
# Each expression, with the dashboard variables substituted (job, namespace, pod of the
# scrape; $__rate_interval = 10s), must parse (the query API answers "success"). Panels of
# echod's core rows (deploy/grafana/dashboard.py CORE_ROWS) must return data, and named
# panels must show the load (accepted/s, bytes/s, active connections > 0). Panels of the
# feature rows (faults, TLS, monitor) must return data as soon as the metrics they use are
# exported; until those features land in this build they are checked for parsing only, and
# the test lists them. The variable queries (label_values) must find the scrape's labels.
# TLS: when this build's echod has --tls-listen and its echo-probe `tcp --tls`, echod also
# serves TLS with a certificate made here by openssl (30 days), TLS load runs beside the plain
# load (and a monitor tls:// target when the monitor has --tls-ca), and the TLS panels must
# then return data: handshakes, their duration, TLS bytes, days to expiry (29 to 30).
source "$(cd "$(dirname "$0")/../deploy" && pwd)/lib.sh"
need prometheus curl python3
: "${ECHOD_BINARY:?}" "${ECHO_PROBE_BINARY:?}"
dashboard="$ECHOD_SOURCE_DIR/deploy/grafana/echod-dashboard.json"
[ -f "$dashboard" ] || die "no $dashboard"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/echod-dash.XXXXXX")"
pids=()
cleanup() {
  local rc=$?
  set +e
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  [ "$rc" -eq 0 ] || show_logs "$TMP" 10
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT

echo_port="$(free_port)"; admin_port="$(free_port)"; prom_port="$(free_port)"; mon_port="$(free_port)"
echo '{"log_level": "info", "max_pending_bytes": 65536}' >"$TMP/echod.json"
tls=0; tls_args=(); tls_port=""
if "$ECHOD_BINARY" --help 2>&1 | grep -q -- '--tls-listen' \
  && "$ECHO_PROBE_BINARY" tcp --help 2>&1 | grep -qE -- '--tls([ ,=]|$)'; then
  need openssl
  tls=1; tls_port="$(free_port)"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$TMP/tls.key" -out "$TMP/tls.crt" 2>"$TMP/openssl.log" \
    || die "openssl could not make a certificate: $(cat "$TMP/openssl.log")"
  tls_args=(--tls-listen "127.0.0.1:$tls_port" --tls-cert "$TMP/tls.crt" --tls-key "$TMP/tls.key")
  log "echod serves TLS on 127.0.0.1:$tls_port: the TLS panels are checked for data"
else
  log "this build has no TLS (echod --tls-listen, echo-probe tcp --tls): the TLS panels are checked for parsing only"
fi
POD_NAME=echod-dash-0 POD_NAMESPACE=echod-dash NODE_NAME=node-dash \
  "$ECHOD_BINARY" --config "$TMP/echod.json" --listen "127.0.0.1:$echo_port" \
  --admin-listen "127.0.0.1:$admin_port" "${tls_args[@]}" --log-format text >"$TMP/echod.log" 2>&1 &
echod_pid=$!; pids+=("$echod_pid")
ready() { curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$admin_port/readyz"; }
wait_for 20 "echod /readyz" ready || die "echod not ready"

monitor=0
if "$ECHO_PROBE_BINARY" monitor --help >/dev/null 2>&1; then
  monitor=1
  mon_tls=()
  if [ "$tls" = 1 ] && "$ECHO_PROBE_BINARY" monitor --help 2>&1 | grep -q -- '--tls-ca'; then
    mon_tls=(--tls-ca "$TMP/tls.crt" --tls-server-name localhost "tls://127.0.0.1:$tls_port")
  fi
  "$ECHO_PROBE_BINARY" monitor --listen "127.0.0.1:$mon_port" --interval 200ms \
    "tcp://127.0.0.1:$echo_port" "${mon_tls[@]}" >"$TMP/monitor.log" 2>&1 &
  pids+=("$!")
  log "echo-probe monitor on 127.0.0.1:$mon_port probes echod"
else
  log "this echo-probe has no monitor command: the monitor row is checked for parsing only"
fi

cat >"$TMP/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: echod
    static_configs:
      - targets: ["127.0.0.1:$admin_port"]
        # The target labels a ServiceMonitor / kubernetes_sd pod job adds in a cluster.
        labels: {namespace: echod-dash, pod: echod-dash-0}
  - job_name: echo-probe-monitor
    static_configs:
      - targets: ["127.0.0.1:$mon_port"]
        labels: {namespace: echod-dash}
YAML
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$TMP/prometheus.log" 2>&1 &
pids+=("$!")
prom="http://127.0.0.1:$prom_port"
has_result() {
  curl -fsS --max-time 2 --get --data-urlencode "query=$1" "$prom/api/v1/query" \
    | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)'
}
wait_for 60 "Prometheus scrapes echod" has_result 'up{job="echod"} == 1' || die "echod never up in Prometheus"

# Load for the rest of the test (stopped by the cleanup): persistent connections (bytes, active) and one message
# per connection (accepted, closed, durations); a SIGHUP for the reload panels.
"$ECHO_PROBE_BINARY" tcp -c 4 -d 150s -r 400 -s 512 -q --json "127.0.0.1:$echo_port" >"$TMP/load-persistent.json" 2>"$TMP/load-persistent.log" &
pids+=("$!")
"$ECHO_PROBE_BINARY" tcp --new-connection -c 2 -d 150s -r 100 -q --json "127.0.0.1:$echo_port" >"$TMP/load-new.json" 2>"$TMP/load-new.log" &
pids+=("$!")
if [ "$tls" = 1 ]; then
  # A fresh TLS connection per message: handshakes all along, and TLS bytes.
  "$ECHO_PROBE_BINARY" tcp --tls --tls-ca "$TMP/tls.crt" --tls-server-name localhost --new-connection -c 2 -d 150s \
    -r 50 -q --json "127.0.0.1:$tls_port" >"$TMP/load-tls.json" 2>"$TMP/load-tls.log" &
  pids+=("$!")
fi
kill -HUP "$echod_pid"
# Enough samples for 10s rates of every counter, and at least one connection closed.
wait_for 40 "10s rates of echoed bytes and closed connections in Prometheus" has_result \
  'rate(echod_sent_bytes_total{job="echod",protocol="tcp"}[10s]) > 0 and on() (count_over_time(echod_sent_bytes_total{job="echod",protocol="tcp"}[10s]) >= 8) and on() sum(rate(echod_connections_closed_total{job="echod"}[10s])) > 0' \
  || die "no load visible in Prometheus"
if [ "$tls" = 1 ]; then
  wait_for 30 "TLS handshakes in Prometheus" has_result 'rate(echod_tls_handshakes_total{job="echod",result="success"}[10s]) > 0' \
    || die "no TLS handshake visible in Prometheus"
fi
if [ "$monitor" = 1 ]; then
  wait_for 30 "Prometheus scrapes the monitor" has_result 'rate(echo_probe_verified_total[10s]) > 0' \
    || die "the monitor's verified echoes never reached Prometheus"
fi

python3 - "$dashboard" "$prom" "$monitor" "$tls" "${mon_tls[*]:-}" <<'PY'
import json, re, sys, urllib.parse, urllib.request

path, prom, monitor, tls, mon_tls = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1", bool(sys.argv[5])
# With TLS served and loaded here, these must be exported like the core metrics.
NEEDED_WITH_TLS = {"echod_tls_handshakes_total", "echod_tls_handshake_duration_seconds",
                   "echod_tls_certificate_expiry_timestamp_seconds", "echod_tls_reloads_total",
                   "echod_received_bytes_total", "echod_sent_bytes_total"} if tls else set()
if mon_tls:
    NEEDED_WITH_TLS.add("echo_probe_tls_handshake_seconds")
dash = json.load(open(path))
CORE_ROWS = {"Overview", "Connections", "Traffic", "Configuration and shutdown", "Process"}
# The lead's side of issue 14 (echod_instance_info) lands separately: until this echod exports
# it, its panel is checked for parsing only. Once exported it must return data like the rest.
PENDING = {"echod_instance_info"}
subst = {"$job": "echod", "$namespace": "echod-dash", "$pod": "echod-dash-0",
         "$monitor_job": "echo-probe-monitor", "$target": ".*", "$__rate_interval": "10s"}

def api(endpoint, **params):
    url = f"{prom}/api/v1/{endpoint}?" + urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # 400 bad_data carries the parse error as JSON
        return json.load(e)

def substitute(expr):
    for k in sorted(subst, key=len, reverse=True):
        expr = expr.replace(k, subst[k])
    left = re.findall(r"\$\w+", expr)
    assert not left, f"unknown dashboard variables {left} in {expr}"
    return expr

# The checker must be able to fail: a broken expression is reported as one.
bad = api("query", query="sum by (instance) (rate(echod_sent_bytes_total[10s])")
assert bad["status"] == "error" and bad.get("errorType") == "bad_data", bad

def selectors(e):
    """Every vector selector NAME{...} of an expression."""
    return set(re.findall(r"\b([a-z_][a-z0-9_]*\{[^}]*\})", e))

def has_series(sel):
    r = api("query", query=f"count({sel})")
    return r["status"] == "success" and bool(r["data"]["result"])

# Variables: label_values(METRIC{...}, LABEL) must find the scrape's values.
want_var = {"job": "echod", "namespace": "echod-dash", "pod": "echod-dash-0", "monitor_job": "echo-probe-monitor"}
for v in dash["templating"]["list"]:
    if v["type"] != "query":
        continue
    m = re.fullmatch(r"label_values\((\w+)(\{.*\})?,\s*(\w+)\)", v["query"]["query"])
    assert m, f"variable {v['name']}: not label_values(METRIC, LABEL): {v['query']['query']}"
    sel = substitute(m.group(1) + (m.group(2) or ""))
    values = api(f"label/{m.group(3)}/values", **{"match[]": sel})
    assert values["status"] == "success", (v["name"], values)
    if v["name"] in want_var and (v["name"] != "monitor_job" or monitor):
        assert want_var[v["name"]] in values["data"], f"variable {v['name']}: {values['data']} lacks {want_var[v['name']]}"
    print(f"variable {v['name']:12s} {sel} -> {values['data']}")

def panels(ps, row=None):
    for p in ps:
        if p["type"] == "row":
            row = p["title"]
            yield from panels(p.get("panels", []), row)
        else:
            yield row, p

failures, checked, with_data, parse_only = [], 0, 0, []
values_of = {}
for row, p in panels(dash["panels"]):
    for t in p.get("targets", []):
        expr = substitute(t["expr"])
        r = api("query", query=expr)
        checked += 1
        if r["status"] != "success":
            failures.append(f"[{row}] {p['title']}: does not run: {r.get('error')} :: {expr}")
            continue
        result = r["data"]["result"]
        # Selectors that match no series: a metric (or label value) this build does not export.
        missing = {re.sub(r"_bucket$", "", sel.split("{")[0]) for sel in selectors(expr) if not has_series(sel)}
        if missing and row in CORE_ROWS and not missing <= PENDING:
            failures.append(f"[{row}] {p['title']}: echod does not export {sorted(missing - PENDING)}")
            continue
        if missing & NEEDED_WITH_TLS:
            failures.append(f"[{row}] {p['title']}: TLS is served and loaded, but no series of {sorted(missing & NEEDED_WITH_TLS)}")
            continue
        if missing:
            parse_only.append(f"[{row}] {p['title']} ({', '.join(sorted(missing))})")
            continue
        vals = [float(s["value"][1]) for s in result]
        if not result:
            failures.append(f"[{row}] {p['title']}: no data :: {expr}")
            continue
        # Every value NaN: a quantile of a histogram with no observation in the window. echod's
        # core rows must have observations; a feature row (a TLS handshake histogram with no
        # TLS traffic here) may not.
        if all(v != v for v in vals) and row in CORE_ROWS:
            failures.append(f"[{row}] {p['title']}: only NaN (no observations) :: {expr}")
            continue
        with_data += 1
        values_of.setdefault(p["title"], []).extend(vals)

# The load shows where it must.
for title, floor in [("Accepted connections/s", 1), ("Sent bytes/s by protocol", 10000),
                     ("Received bytes/s by protocol", 10000), ("Active connections", 4),
                     ("Closed connections/s by reason", 1), ("Connection duration percentiles", 0),
                     ("Targets up", 1), ("Resident memory", 1e6), ("Open file descriptors", 5),
                     ("Config reloads by result", 0)]:
    got = max(values_of.get(title, [float("-inf")]))
    if not got >= floor or (floor == 0 and not got > 0):
        failures.append(f"{title}: max value {got}, want {'>' if floor == 0 else '>='} {floor}")
    else:
        print(f"  {title}: {got:.4g}")
if monitor:
    for title in ("Success ratio per target", "RTT p50 per address"):
        got = max(values_of.get(title, [float("-inf")]))
        if not got > 0:
            failures.append(f"{title}: {got}, want > 0 with a monitor running")
        else:
            print(f"  {title}: {got:.4g}")

if tls:
    for title, low, high in [("TLS handshakes/s by result", 1, float("inf")), ("TLS bytes/s", 100, float("inf")),
                             ("Days until certificate expiry", 29, 30.01)]:
        got = max(values_of.get(title, [float("-inf")]))
        if not low <= got <= high:
            failures.append(f"{title}: max value {got}, want {low} to {high}")
        else:
            print(f"  {title}: {got:.4g}")

print(f"{checked} expressions run: {with_data} returned data, {len(parse_only)} parse-only (metrics not exported by this build)")
for p in parse_only:
    print("  parse-only:", p)
if failures:
    print("FAIL:\n  " + "\n  ".join(failures), file=sys.stderr)
    sys.exit(1)
PY
echo "dashboard queries: ok"
