#!/usr/bin/env bash
# Every object the chart renders (defaults and each ci/*-values.yaml) and every object of
# `kubectl kustomize deploy/` passes the Kubernetes OpenAPI schema (prometheus-operator CRD
# schemas for ServiceMonitor/PrometheusRule) and echod's rules (validate-k8s.cjs). Mutated
# renders prove the validator fails. With an echod binary, each rendered config file passes
# `echod --check-config`. The chart's PrometheusRule passes `promtool check rules`.
source "$(dirname "$0")/lib.sh"
ensure_tools
need promtool
make_tmp
here="$(cd "$(dirname "$0")" && pwd)"
chart="$ECHOD_SOURCE_DIR/helm/echod"
validate() { node "$here/validate-k8s.cjs" "$@"; }
mkdir -p "$TMP/configs"
export CONFIG_OUT_DIR="$TMP/configs"

"$HELM" template echod "$chart" --namespace echod >"$TMP/default.yaml"
validate "$TMP/default.yaml"
for values in "$chart"/ci/*-values.yaml; do
  name="$(basename "$values" -values.yaml)"
  "$HELM" template echod "$chart" --namespace echod -f "$values" >"$TMP/ci-$name.yaml"
  echo -n "ci/$name: "
  validate "$TMP/ci-$name.yaml"
done
# Each optional feature renders its object when on, and not by default.
for pair in servicemonitor:ServiceMonitor prometheusrule:PrometheusRule pdb:PodDisruptionBudget \
  hpa:HorizontalPodAutoscaler networkpolicy:NetworkPolicy; do
  grep -q "^kind: ${pair#*:}$" "$TMP/ci-${pair%%:*}.yaml" || die "ci/${pair%%:*} does not render a ${pair#*:}"
  ! grep -q "^kind: ${pair#*:}$" "$TMP/default.yaml" || die "${pair#*:} is rendered by default"
done
grep -q 'prometheus.io/scrape: "true"' "$TMP/ci-scrape-annotations.yaml" || die "scrape annotations missing"
grep -q -- '--admin-token-file' "$TMP/ci-admin-token.yaml" || die "admin token not passed"
! grep -q '^  replicas:' "$TMP/ci-hpa.yaml" || die "replicas set while the HPA owns them"
grep -q 'checksum/config:' "$TMP/default.yaml" || die "checksum/config annotation missing"
grep -q 'topologySpreadConstraints:' "$TMP/default.yaml" || die "topologySpreadConstraints missing"
grep -q 'helm.sh/hook: test' "$TMP/default.yaml" || die "helm test Pod missing"
grep -q 'echo-probe' "$TMP/default.yaml" || die "helm test Pod does not run echo-probe"

"$KUBECTL" kustomize "$ECHOD_SOURCE_DIR/deploy" >"$TMP/kustomize.yaml"
echo -n "deploy/: "
validate "$TMP/kustomize.yaml"
# deploy/ holds one object per file.
for f in "$ECHOD_SOURCE_DIR"/deploy/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] && continue
  n="$(grep -c '^kind:' "$f")"
  [ "$n" -eq 1 ] || die "$f holds $n objects, want 1"
done

# Instance identity: the chart and deploy/ pass the pod name, namespace and node name
# through the downward API (echod shows them in GET / and echod_instance_info).
node - "$TMP/default.yaml" "$TMP/kustomize.yaml" <<'JS' || die "downward API env is wrong"
const y = require('js-yaml'), fs = require('fs');
const want = { POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace', NODE_NAME: 'spec.nodeName' };
for (const f of process.argv.slice(2)) {
  const dep = y.loadAll(fs.readFileSync(f, 'utf8')).find((d) => d && d.kind === 'Deployment');
  const env = dep.spec.template.spec.containers.find((c) => c.name === 'echod').env || [];
  for (const [name, path] of Object.entries(want)) {
    const e = env.find((v) => v.name === name);
    const got = e && e.valueFrom && e.valueFrom.fieldRef && e.valueFrom.fieldRef.fieldPath;
    if (got !== path) throw new Error(`${f}: ${name} fieldRef ${got}, want ${path}`);
  }
}
console.log('downward API: POD_NAME, POD_NAMESPACE, NODE_NAME in the chart and deploy/');
JS
# The Grafana dashboard ConfigMap: only under grafanaDashboard.enabled, labelled for the
# sidecar, in its namespace, holding deploy/grafana/echod-dashboard.json byte for byte.
! grep -q 'grafana_dashboard:' "$TMP/default.yaml" || die "dashboard ConfigMap rendered by default"
node - "$TMP/ci-grafana-dashboard.yaml" "$ECHOD_SOURCE_DIR/deploy/grafana/echod-dashboard.json" <<'JS' || die "dashboard ConfigMap is wrong"
const y = require('js-yaml'), fs = require('fs');
const [render, file] = process.argv.slice(2);
const cm = y.loadAll(fs.readFileSync(render, 'utf8'))
  .find((d) => d && d.kind === 'ConfigMap' && d.metadata.labels && d.metadata.labels.grafana_dashboard);
if (!cm) throw new Error('no ConfigMap labelled grafana_dashboard');
if (cm.metadata.labels.grafana_dashboard !== '1') throw new Error(`label ${cm.metadata.labels.grafana_dashboard}`);
if (cm.metadata.namespace !== 'monitoring') throw new Error(`namespace ${cm.metadata.namespace}`);
const text = cm.data['echod-dashboard.json'];
if (text + '\n' !== fs.readFileSync(file, 'utf8')) throw new Error('ConfigMap JSON differs from deploy/grafana/echod-dashboard.json');
const d = JSON.parse(text);
console.log(`dashboard ConfigMap: ${cm.metadata.namespace}/${cm.metadata.name}, "${d.title}", ${text.length} bytes, same as deploy/grafana/`);
JS

# The validator must be able to fail: each mutation of a valid render is refused.
mutate() {
  local why="$1" expr="$2" src="$3"
  sed -e "$expr" "$src" >"$TMP/mutated.yaml"
  cmp -s "$src" "$TMP/mutated.yaml" && die "mutation '$expr' changed nothing"
  if out="$(validate "$TMP/mutated.yaml" 2>&1)"; then die "validator accepted: $why"; fi
  grep -qF -- "$why" <<<"$out" || die "validator refused '$expr' for another reason: $out"
  log "validator refuses: $why"
}
mutate "readOnlyRootFilesystem is not true" 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' "$TMP/default.yaml"
mutate "capabilities.drop lacks ALL" 's/- ALL/- NET_RAW/' "$TMP/default.yaml"
mutate "runAsNonRoot is not true" 's/runAsNonRoot: true/runAsNonRoot: false/' "$TMP/default.yaml"
mutate "seccompProfile.type" 's/type: RuntimeDefault/type: Unconfined/' "$TMP/default.yaml"
mutate "livenessProbe path is /healthz" 's#path: /livez#path: /healthz#' "$TMP/default.yaml"
mutate "readinessProbe is not an httpGet probe" '/readinessProbe:/,/path: \/readyz/{s/httpGet:/tcpSocket:/;/path:/d}' "$TMP/default.yaml"
mutate "tcpSocket probe on the echo port" '/readinessProbe:/,/port: admin/{s/httpGet:/tcpSocket:/;/path:/d;s/port: admin/port: echo/}' "$TMP/default.yaml"
mutate "enableServiceLinks must be false" 's/enableServiceLinks: false/enableServiceLinks: true/' "$TMP/default.yaml"
mutate "terminationGracePeriodSeconds 20" 's/terminationGracePeriodSeconds: .*/terminationGracePeriodSeconds: 20/' "$TMP/default.yaml"
mutate "schema: " 's/containerPort: 7007/containerPort: "seven"/' "$TMP/default.yaml"
mutate "schema: " '0,/maxUnavailable: 1/s/maxUnavailable: 1/maxUnavailable: [1]/' "$TMP/ci-pdb.yaml"
mutate "schema: " 's/interval: 10s/interval: [10s]/' "$TMP/ci-servicemonitor.yaml"
mutate "unknown field Deployment.spec.template.spec.containers[0].livenesProbe" 's/livenessProbe:/livenesProbe:/' "$TMP/default.yaml"
mutate "unknown field Deployment.spec.template.spec.topologySpreadConstraints[0].maxSkw" '0,/- maxSkew:/s/- maxSkew:/- maxSkw:/' "$TMP/default.yaml"
mutate "unknown field Service.spec.selectr" '0,/^  selector:$/s//  selectr:/' "$TMP/kustomize.yaml"
mutate "selects helper pod" 's/app.kubernetes.io\/name: echod-test/app.kubernetes.io\/name: echod/' "$TMP/default.yaml"

# NOTES.txt renders (helm prints it only on install, which needs a cluster): a copy of the
# chart wraps it in a ConfigMap so `helm template` renders it, then we read the text back.
cp -r "$chart" "$TMP/notes-chart"
{ echo '{{- define "echod.test.notes" -}}'; cat "$chart/templates/NOTES.txt"; echo '{{- end -}}'; } \
  >"$TMP/notes-chart/templates/_notes_test.tpl"
rm "$TMP/notes-chart/templates/NOTES.txt"
printf '%s\n' 'apiVersion: v1' 'kind: ConfigMap' 'metadata: {name: notes}' \
  'data: {notes: {{ include "echod.test.notes" . | quote }}}' >"$TMP/notes-chart/templates/notes.yaml"
"$HELM" template echod "$TMP/notes-chart" --namespace echod --show-only templates/notes.yaml \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(require("js-yaml").load(s).data.notes))' \
  >"$TMP/NOTES.txt"
for want in "helm test echod --namespace echod" "/usr/local/bin/echo-probe tcp" "echo-probe http http://" \
  "echod.echod.svc:7007" "grace period 35s"; do
  grep -qF -- "$want" "$TMP/NOTES.txt" || die "NOTES.txt lacks '$want': $(cat "$TMP/NOTES.txt")"
done
log "NOTES.txt renders with the probe commands"

# The chart's PrometheusRule is a valid Prometheus rule file.
node -e '
const y=require("js-yaml"),fs=require("fs");
const r=y.loadAll(fs.readFileSync(process.argv[1],"utf8")).find(d=>d&&d.kind==="PrometheusRule");
fs.writeFileSync(process.argv[2], y.dump({groups:r.spec.groups}));' "$TMP/ci-prometheusrule.yaml" "$TMP/chart-rules.yml"
promtool check rules "$TMP/chart-rules.yml"
# The same alerts as deploy/prometheus/echod-rules.yml's echod group, by name.
for alert in EchodDown EchodConnectionsRejected EchodConfigReloadFailed EchodDrainTooLong \
  EchodFaultsActive; do
  grep -q "alert: $alert$" "$TMP/chart-rules.yml" || die "chart PrometheusRule lacks $alert"
done
[ "$(grep -c 'alert:' "$TMP/chart-rules.yml")" -eq 5 ] || die "chart PrometheusRule should hold 5 alerts"

# The monitor (ci/monitor-values.yaml): its Deployment, the headless Service, its own
# Service and ServiceMonitor, and the four echo-path alerts; none of it by default.
for want in "name: echod-monitor" "name: echod-headless" "clusterIP: None" \
  "- monitor" "tcp://echod.echod.svc:7007" "tcp://echod-headless.echod.svc:7007"; do
  grep -qF -- "$want" "$TMP/ci-monitor.yaml" || die "ci/monitor does not render '$want'"
done
! grep -q "echod-monitor\|echod-headless" "$TMP/default.yaml" || die "the monitor is rendered by default"
[ "$(grep -c '^kind: ServiceMonitor$' "$TMP/ci-monitor.yaml")" -eq 2 ] || die "ci/monitor: want 2 ServiceMonitors"
node -e '
const y=require("js-yaml"),fs=require("fs");
const r=y.loadAll(fs.readFileSync(process.argv[1],"utf8")).find(d=>d&&d.kind==="PrometheusRule");
fs.writeFileSync(process.argv[2], y.dump({groups:r.spec.groups}));' "$TMP/ci-monitor.yaml" "$TMP/chart-monitor-rules.yml"
promtool check rules "$TMP/chart-monitor-rules.yml"
for alert in EchoPathErrors EchoPathDown EchoPathLatencyHigh EchoPathDisrupted; do
  grep -q "alert: $alert\$" "$TMP/chart-monitor-rules.yml" || die "chart PrometheusRule lacks $alert"
done
mutate "selects the pods of" 's/app.kubernetes.io\/name: echod-monitor/app.kubernetes.io\/name: echod/' "$TMP/ci-monitor.yaml"
mutate "livenessProbe port is admin, want the named port http" '/name: monitor/,/readinessProbe/{s/port: http/port: admin/}' "$TMP/ci-monitor.yaml"

# echod itself accepts every rendered config file (when it is built).
if [ -n "${ECHOD_BINARY:-}" ] && [ -x "$ECHOD_BINARY" ]; then
  n=0
  for cfg in "$TMP"/configs/*; do
    "$ECHOD_BINARY" --check-config --config "$cfg" >"$TMP/effective.json" \
      || die "echod --check-config refuses $(basename "$cfg"): $(cat "$cfg")"
    n=$((n + 1))
  done
  "$ECHOD_BINARY" --check-config --config "$ECHOD_SOURCE_DIR/deploy/config.json" >/dev/null \
    || die "echod --check-config refuses deploy/config.json"
  log "echod --check-config accepts $n rendered config files and deploy/config.json"
else
  die "ECHOD_BINARY not set or not built: cannot check the rendered config files"
fi
echo "manifests validate: ok"
