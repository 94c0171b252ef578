#!/usr/bin/env bash
# The Grafana dashboard without Prometheus: both copies (deploy/grafana/ and the chart's
# dashboards/) are what deploy/grafana/dashboard.py generates, the variables exist
# (datasource, job, namespace, pod), every panel and query uses the datasource variable, panel
# ids are unique, and every metric the issue and SPEC.md name is on a panel. The live check
# of every expression is e2e.DashboardQueriesRunAgainstPrometheusScrapingALoadedEchod.
source "$(dirname "$0")/lib.sh"
need python3
python3 "$ECHOD_SOURCE_DIR/deploy/grafana/dashboard.py" --check
python3 - "$ECHOD_SOURCE_DIR/deploy/grafana/echod-dashboard.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
problems = []
vars_ = {v["name"]: v for v in d["templating"]["list"]}
if vars_.get("datasource", {}).get("type") != "datasource" or vars_["datasource"].get("query") != "prometheus":
    problems.append("no Prometheus datasource variable")
for name in ("job", "namespace", "pod"):
    v = vars_.get(name)
    if not v or v["type"] != "query" or v["datasource"]["uid"] != "${datasource}":
        problems.append(f"variable {name} missing or not a query on ${{datasource}}")
    elif not (v["includeAll"] and v["allValue"] == ".*"):
        problems.append(f"variable {name}: needs All = .* (series without the label outside Kubernetes)")

def walk(ps):
    for p in ps:
        yield p
        yield from walk(p.get("panels", []))
panels = [p for p in walk(d["panels"])]
ids = [p["id"] for p in panels]
if len(ids) != len(set(ids)):
    problems.append("duplicate panel ids")
exprs = []
for p in panels:
    if p["type"] == "row":
        continue
    if p.get("datasource", {}).get("uid") != "${datasource}":
        problems.append(f"panel {p['title']}: datasource is not ${{datasource}}")
    g = p["gridPos"]
    if g["x"] + g["w"] > 24:
        problems.append(f"panel {p['title']}: wider than the grid")
    for t in p["targets"]:
        if t.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"panel {p['title']}: a query without the datasource variable")
        if 'job=~"$job"' not in t["expr"] and 'job=~"$monitor_job"' not in t["expr"]:
            problems.append(f"panel {p['title']}: a query without the job selector: {t['expr']}")
        exprs.append(t["expr"])
text = "\n".join(exprs)
want = """echod_connections_active echod_connections_accepted_total echod_connections_rejected_total
echod_connections_closed_total echod_received_bytes_total echod_sent_bytes_total echod_udp_datagrams_total
echod_connection_duration_seconds_bucket echod_backpressure_pauses_total echod_config_reloads_total
echod_config_last_reload_successful echod_shutting_down echod_build_info echod_instance_info
process_cpu_seconds_total process_resident_memory_bytes process_open_fds process_max_fds
echod_faults_injected_total echod_fault_rules echod_tls_handshakes_total echod_tls_handshake_duration_seconds_bucket
echod_tls_certificate_expiry_timestamp_seconds echod_tls_reloads_total echod_proxy_protocol_headers_total
echo_probe_messages_total echo_probe_verified_total echo_probe_errors_total echo_probe_rtt_seconds_bucket
echo_probe_breaks_total echo_probe_connect_seconds_bucket echo_probe_persistent_connections
echo_probe_reconnect_seconds_bucket echo_probe_addresses echo_probe_last_success_timestamp_seconds
echo_probe_tls_handshake_seconds_bucket""".split()
for m in want:
    if m + "{" not in text:
        problems.append(f"no panel uses {m}")
for must in ['by (reason) (rate(echod_connections_rejected_total', 'by (reason) (rate(echod_connections_closed_total',
             'by (address, le) (rate(echo_probe_rtt_seconds_bucket', 'by (action) (rate(echod_faults_injected_total',
             'by (result) (rate(echod_tls_handshakes_total', 'by (result) (rate(echod_proxy_protocol_headers_total',
             '(min by (instance) (echod_tls_certificate_expiry_timestamp_seconds']:
    if must not in text:
        problems.append(f"no panel has {must}...")
if problems:
    sys.exit("FAIL:\n  " + "\n  ".join(problems))
print(f"dashboard: {len(panels)} panels, {len(exprs)} queries, every listed metric covered")
PY
echo "dashboard static checks: ok"
