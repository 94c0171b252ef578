#!/usr/bin/env python3
"""The echod Grafana dashboard, generated: the one source of truth for its JSON.

    python3 deploy/grafana/dashboard.py           # (re)write both copies below
    python3 deploy/grafana/dashboard.py --check   # exit 1 if a copy differs from this file

Copies: deploy/grafana/echod-dashboard.json (import it in Grafana, or provision it) and
helm/echod/dashboards/echod-dashboard.json (the chart's ConfigMap reads it with .Files.Get:
helm cannot read files outside the chart). Edit this file, never the JSON.

Variables: datasource (any Prometheus), job / namespace / pod (echod's scrape job; namespace
and pod are the target labels the chart's ServiceMonitor and deploy/prometheus/kubernetes.yml
add, and match everything outside Kubernetes), monitor_job / target (echo-probe monitor).
Metric names are SPEC.md's. Rows: overview, connections, traffic, configuration, process
(echod's core, always exported), then faults, TLS and PROXY protocol, and the echo-probe
monitor (collapsed: those features are opt-in).
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
COPIES = [ROOT / "deploy/grafana/echod-dashboard.json",
          ROOT / "helm/echod/dashboards/echod-dashboard.json"]

DS = {"type": "prometheus", "uid": "${datasource}"}
S = 'job=~"$job", namespace=~"$namespace", pod=~"$pod"'  # one echod selector everywhere
M = 'job=~"$monitor_job", namespace=~"$namespace", target=~"$target"'  # the monitor's
RATE = "$__rate_interval"

# Row titles whose panels are echod's core: tests/e2e/dashboard_queries.sh requires data
# from each of them against a loaded echod.
CORE_ROWS = ["Overview", "Connections", "Traffic", "Configuration and shutdown", "Process"]


def rate(metric, by, sel=S, fn="rate"):
    return f"sum by ({by}) ({fn}({metric}{{{sel}}}[{RATE}]))"


def quantiles(metric, by="", sel=S, qs=(0.5, 0.9, 0.99)):
    group = f"{by}, le" if by else "le"
    prefix = "{{" + by + "}} " if by else ""
    return [(f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{sel}}}[{RATE}])))",
             f"{prefix}p{round(q * 100, 1):g}") for q in qs]


class Dashboard:
    def __init__(self):
        self.panels = []
        self.next_id = 1
        self.y = 0
        self.x = 0
        self.row = None

    def _id(self):
        self.next_id += 1
        return self.next_id - 1

    def add_row(self, title, collapsed=False):
        if self.x:
            self.y += 8
            self.x = 0
        row = {"type": "row", "title": title, "id": self._id(), "collapsed": collapsed,
               "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []}
        self.panels.append(row)
        self.row = row
        self.y += 1

    def panel(self, title, targets, unit="short", kind="timeseries", width=8, desc="", stack=False,
              thresholds=None):
        if self.x + width > 24:
            self.y += 8
            self.x = 0
        p = {
            "type": kind, "title": title, "id": self._id(), "datasource": DS, "description": desc,
            "gridPos": {"h": 8, "w": width, "x": self.x, "y": self.y},
            "targets": [{"refId": chr(ord("A") + i), "datasource": DS, "expr": e, "legendFormat": l,
                         **({"instant": True, "format": "table"} if kind == "table" else {})}
                        for i, (e, l) in enumerate(targets)],
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        }
        if thresholds:  # [(color, from value), ...], the first from -inf
            p["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": [
                {"color": c, "value": v} for c, v in thresholds]}
        if kind == "timeseries":
            p["fieldConfig"]["defaults"]["custom"] = {
                "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10 if stack else 0,
                "showPoints": "never", "stacking": {"mode": "normal" if stack else "none"}}
            p["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                            "tooltip": {"mode": "multi", "sort": "desc"}}
        elif kind == "stat":
            p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "colorMode": "value", "graphMode": "area", "textMode": "auto"}
        elif kind == "table":
            p["options"] = {"showHeader": True}
            p["transformations"] = [{"id": "organize", "options": {
                "excludeByName": {"Time": True, "Value": True, "__name__": True}}}]
        (self.row["panels"] if self.row and self.row["collapsed"] else self.panels).append(p)
        self.x += width


def variable(name, label, query, include_all=True, multi=True, hide=0):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"{name}-var"}, "definition": query,
            "refresh": 2, "sort": 1, "includeAll": include_all, "multi": multi,
            "allValue": ".*" if include_all else None, "hide": hide,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if include_all else {},
            "options": [], "regex": ""}


def build():
    d = Dashboard()
    d.add_row("Overview")
    d.panel("Targets up", [(f"sum(up{{{S}}})", "up"), (f"count(up{{{S}}})", "scraped")], kind="stat", width=4,
            desc="Scrape targets of the selected job answering /metrics, of all scraped.")
    d.panel("Active connections", [(f"sum(echod_connections_active{{{S}}})", "active")], kind="stat", width=4)
    d.panel("Echoed bytes/s", [(f"sum(rate(echod_sent_bytes_total{{{S}}}[{RATE}]))", "sent")],
            unit="Bps", kind="stat", width=4)
    d.panel("Shutting down", [(f"sum(echod_shutting_down{{{S}}})", "draining")], kind="stat", width=4,
            desc="Instances between SIGTERM and exit (/readyz 503).")
    d.panel("Versions", [(f"count by (version, revision) (echod_build_info{{{S}}})", "{{version}} {{revision}}")],
            kind="table", width=8)
    d.panel("Instances (pod, namespace, node from the downward API)",
            [(f"echod_instance_info{{{S}}}", "")], kind="table", width=24,
            desc="echod_instance_info: its own pod/namespace/node labels. Scraped with target labels of "
                 "the same names they appear as exported_pod, exported_namespace.")

    d.add_row("Connections")
    d.panel("Active connections per instance", [(f"sum by (instance) (echod_connections_active{{{S}}})", "{{instance}}")])
    d.panel("Accepted connections/s", [(rate("echod_connections_accepted_total", "instance"), "{{instance}}")],
            unit="cps")
    d.panel("Accepted connections/s per worker",
            [(rate("echod_worker_connections_accepted_total", "instance, worker"), "{{instance}} w{{worker}}")],
            unit="cps", desc="SO_REUSEPORT hashes new connections over the workers: the lines of one instance "
                             "should lie together; one far below the others is a stuck worker.")
    d.panel("Rejected connections/s by reason", [(rate("echod_connections_rejected_total", "reason"), "{{reason}}")],
            unit="cps", desc="max_connections: beyond --max-connections; accept_error: accept() failed (EMFILE...).")
    d.panel("Closed connections/s by reason", [(rate("echod_connections_closed_total", "reason"), "{{reason}}")],
            unit="cps", stack=True)
    d.panel("Connection duration percentiles", quantiles("echod_connection_duration_seconds"), unit="s",
            desc="From echod_connection_duration_seconds (connections closed in the window).")
    d.panel("Connection duration p99 per instance",
            quantiles("echod_connection_duration_seconds", by="instance", qs=(0.99,)), unit="s")

    d.add_row("Traffic")
    d.panel("Received bytes/s by protocol", [(rate("echod_received_bytes_total", "protocol"), "{{protocol}}")],
            unit="Bps")
    d.panel("Sent bytes/s by protocol", [(rate("echod_sent_bytes_total", "protocol"), "{{protocol}}")], unit="Bps")
    d.panel("Backpressure pauses/s", [(rate("echod_backpressure_pauses_total", "instance"), "{{instance}}")],
            unit="ops", desc="Times a connection stopped reading because its peer did not read (max_pending_bytes).")
    d.panel("UDP datagrams/s", [(rate("echod_udp_datagrams_total", "instance"), "{{instance}}")], unit="pps")
    d.panel("Unsent bytes (received - sent)",
            [(f"sum by (instance) (echod_received_bytes_total{{{S}}}) - sum by (instance) (echod_sent_bytes_total{{{S}}})",
              "{{instance}}")], unit="bytes", desc="Bytes read and not yet echoed, held by backpressure.")

    d.add_row("Configuration and shutdown")
    d.panel("Config reloads by result", [(rate("echod_config_reloads_total", "result", fn="increase"), "{{result}}")],
            desc="SIGHUP and PUT /config outcomes in each interval.")
    d.panel("Last reload successful", [(f"min(echod_config_last_reload_successful{{{S}}})", "all ok")],
            kind="stat", width=4)
    d.panel("Since last good reload", [(f"time() - max(echod_config_last_reload_success_timestamp_seconds{{{S}}})", "age")],
            unit="s", kind="stat", width=4)
    d.panel("Instances shutting down", [(f"sum by (instance) (echod_shutting_down{{{S}}})", "{{instance}}")])

    d.add_row("Process")
    d.panel("CPU (cores)", [(f"sum by (instance) (rate(process_cpu_seconds_total{{{S}}}[{RATE}]))", "{{instance}}")],
            unit="short")
    d.panel("Resident memory", [(f"sum by (instance) (process_resident_memory_bytes{{{S}}})", "{{instance}}")],
            unit="bytes")
    d.panel("Open file descriptors",
            [(f"sum by (instance) (process_open_fds{{{S}}})", "{{instance}} open"),
             (f"sum by (instance) (process_max_fds{{{S}}})", "{{instance}} max")])
    d.panel("Threads", [(f"sum by (instance) (process_threads{{{S}}})", "{{instance}}")])
    d.panel("Uptime", [(f"time() - max by (instance) (process_start_time_seconds{{{S}}})", "{{instance}}")], unit="s")

    d.add_row("Faults", collapsed=True)
    d.panel("Faults injected/s by action", [(rate("echod_faults_injected_total", "action"), "{{action}}")],
            unit="ops", desc="PUT /faults rules firing. Not zero in production means someone left a rule on.")
    d.panel("Active fault rules", [(f"sum by (instance) (echod_fault_rules{{{S}}})", "{{instance}}")])

    d.add_row("TLS and PROXY protocol", collapsed=True)
    d.panel("TLS handshakes/s by result", [(rate("echod_tls_handshakes_total", "result"), "{{result}}")], unit="ops",
            desc="success, failure (bad certificate, version, no client certificate under mTLS), timeout "
                 "(--tls-handshake-timeout; also a plain TCP health check on the TLS port).")
    d.panel("TLS handshake failure ratio",
            [(f'sum by (instance) (rate(echod_tls_handshakes_total{{{S}, result!="success"}}[{RATE}])) / '
              f"sum by (instance) (rate(echod_tls_handshakes_total{{{S}}}[{RATE}]))", "{{instance}}")],
            unit="percentunit", desc="Failed and timed-out handshakes over all (alert EchodTlsHandshakesFailing).")
    d.panel("TLS handshake duration", quantiles("echod_tls_handshake_duration_seconds"), unit="s")
    d.panel("Days until certificate expiry",
            [(f"(min by (instance) (echod_tls_certificate_expiry_timestamp_seconds{{{S}}}) - time()) / 86400",
              "{{instance}}")],
            kind="stat", thresholds=[("red", None), ("orange", 7), ("green", 14)],
            desc="notAfter of the served leaf certificate, minus now, in days. Alert EchodCertificateExpiresSoon "
                 "fires under 14 days: a renewal failed, or echod did not load the renewed Secret.")
    d.panel("TLS certificate reloads by result", [(rate("echod_tls_reloads_total", "result", fn="increase"), "{{result}}")],
            desc="SIGHUP and certificate file changes (a Secret update). failure: the new pair was refused and the "
                 "old certificate is still served (alert EchodTlsReloadFailing).")
    d.panel("TLS bytes/s", [(rate("echod_received_bytes_total", "protocol", sel=S + ', protocol="tls"'), "received"),
                            (rate("echod_sent_bytes_total", "protocol", sel=S + ', protocol="tls"'), "sent")],
            unit="Bps", desc="Plaintext bytes of the TLS listener.")
    d.panel("PROXY protocol headers/s by result",
            [(rate("echod_proxy_protocol_headers_total", "result"), "{{result}}")], unit="ops",
            desc="v1, v2 and local (a load balancer's health check) are good headers; invalid, timeout and "
                 "untrusted connections were closed unechoed.")
    d.panel("PROXY protocol rejected ratio by reason",
            [(f'sum by (result) (rate(echod_proxy_protocol_headers_total{{{S}, result=~"invalid|timeout|untrusted"}}[{RATE}]))'
              f" / ignoring (result) group_left sum(rate(echod_proxy_protocol_headers_total{{{S}}}[{RATE}]))",
              "{{result}}")],
            unit="percentunit", desc="invalid: no header or another version (proxy protocol off at the load balancer?); "
                                      "untrusted: a source outside --proxy-protocol-trusted (alert EchodProxyProtocolRejected).")

    d.add_row("echo-probe monitor", collapsed=True)
    d.panel("Success ratio per target",
            [(f"sum by (target) (rate(echo_probe_verified_total{{{M}}}[{RATE}])) / "
              f"sum by (target) (rate(echo_probe_messages_total{{{M}}}[{RATE}]))", "{{target}}")],
            unit="percentunit", desc="Verified echoes / messages sent, new and persistent connections.")
    d.panel("RTT p50 per address", quantiles("echo_probe_rtt_seconds", by="address", sel=M, qs=(0.5,)), unit="s")
    d.panel("RTT p99 per address", quantiles("echo_probe_rtt_seconds", by="address", sel=M, qs=(0.99,)), unit="s")
    d.panel("Errors/s by class", [(rate("echo_probe_errors_total", "class", sel=M), "{{class}}")], unit="ops")
    d.panel("Persistent connection breaks by class",
            [(rate("echo_probe_breaks_total", "address, class", sel=M, fn="increase"), "{{address}} {{class}}")],
            desc="graceful = FIN with nothing outstanding (a drain); closed, reset, timeout, mismatch lost bytes.")
    d.panel("Reconnect time p99 (break to next verified echo)",
            quantiles("echo_probe_reconnect_seconds", by="target", sel=M, qs=(0.99,)), unit="s")
    d.panel("Connect time p99 per address",
            quantiles("echo_probe_connect_seconds", by="address", sel=M, qs=(0.99,)), unit="s")
    d.panel("TLS handshake p99 per address (tls:// targets)",
            quantiles("echo_probe_tls_handshake_seconds", by="address", sel=M, qs=(0.99,)), unit="s")
    d.panel("Persistent connections per address",
            [(f"sum by (address) (echo_probe_persistent_connections{{{M}}})", "{{address}}")])
    d.panel("Addresses probed per target", [(f"sum by (target) (echo_probe_addresses{{{M}}})", "{{target}}")])
    d.panel("Since last success per address",
            [(f"time() - max by (address) (echo_probe_last_success_timestamp_seconds{{{M}}})", "{{address}}")],
            unit="s")

    return {
        "title": "echod",
        "uid": "echod-overview",
        "description": "echod TCP echo service and the echo-probe monitor (generated by deploy/grafana/dashboard.py)",
        "tags": ["echod", "echo-probe"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [],
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1,
             "regex": ""},
            variable("job", "Job", "label_values(echod_build_info, job)"),
            variable("namespace", "Namespace", 'label_values(echod_build_info{job=~"$job"}, namespace)'),
            variable("pod", "Pod", 'label_values(echod_build_info{job=~"$job", namespace=~"$namespace"}, pod)'),
            variable("monitor_job", "Monitor job", "label_values(echo_probe_build_info, job)"),
            variable("target", "Monitor target", 'label_values(echo_probe_addresses{job=~"$monitor_job"}, target)'),
        ]},
        "panels": d.panels,
    }


def render():
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def main():
    text = render()
    if sys.argv[1:] == ["--check"]:
        stale = [str(p.relative_to(ROOT)) for p in COPIES if not p.exists() or p.read_text() != text]
        if stale:
            print("stale (run python3 deploy/grafana/dashboard.py): " + ", ".join(stale), file=sys.stderr)
            return 1
        print(f"dashboard copies up to date: {', '.join(str(p.relative_to(ROOT)) for p in COPIES)}")
        return 0
    if sys.argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    for p in COPIES:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
