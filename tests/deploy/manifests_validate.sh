#!/usr/bin/env bash
# Every object the chart renders (defaults and each ci/*-values.yaml) and every object of
# `kubectl kustomize deploy/` passes the Kubernetes OpenAPI schema (prometheus-operator CRD
# schemas for ServiceMonitor/PrometheusRule) and echod's rules (validate-k8s.cjs). Mutated
# renders prove the validator fails. With an echod binary, each rendered config file and
# each rendered echod command line pass `echod --check-config`. The chart's PrometheusRule
# passes `promtool check rules`. TLS and the PROXY protocol: ci/tls and ci/proxy-protocol,
# and deploy/components, render what they should.
source "$(dirname "$0")/lib.sh"
ensure_tools
need promtool openssl
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

# deploy/components/tls and proxy-protocol, both on, from an overlay outside deploy/ (kustomize
# refuses an overlay inside its base's folder): validated like deploy/, and they say what the
# chart says with tls.enabled and proxyProtocol.mode=v2.
! grep -q -- '--tls-\|--proxy-protocol\|echo-tls' "$TMP/kustomize.yaml" || die "deploy/ turns TLS or PROXY protocol on by default"
mkdir -p "$TMP/overlay"
base="$(realpath --relative-to="$TMP/overlay" "$ECHOD_SOURCE_DIR/deploy")"
printf '%s\n' 'apiVersion: kustomize.config.k8s.io/v1beta1' 'kind: Kustomization' "resources: [$base]" \
  "components: [$base/components/tls, $base/components/proxy-protocol]" >"$TMP/overlay/kustomization.yaml"
"$KUBECTL" kustomize "$TMP/overlay" >"$TMP/kustomize-components.yaml"
echo -n "deploy/ + components/tls + components/proxy-protocol: "
validate "$TMP/kustomize-components.yaml"
node - "$TMP/kustomize-components.yaml" <<'JS' || die "deploy/components render is wrong"
const y = require('js-yaml'), fs = require('fs');
const docs = y.loadAll(fs.readFileSync(process.argv[2], 'utf8')).filter((d) => d);
const get = (kind, name) => docs.find((d) => d.kind === kind && d.metadata.name === name);
const want = (cond, what) => { if (!cond) throw new Error(what); };
const echod = get('Deployment', 'echod').spec.template.spec;
const args = echod.containers[0].args.join(' ');
for (const a of ['--tls-listen :7443 --tls-cert /etc/echod/tls/tls.crt --tls-key /etc/echod/tls/tls.key',
  '--proxy-protocol v2 --proxy-protocol-trusted 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16 --proxy-protocol-timeout 3s']) {
  want(args.includes(a), `echod args lack "${a}": ${args}`);
}
want(echod.volumes.some((v) => v.name === 'tls' && v.secret && v.secret.secretName === 'echod-tls' && !v.secret.items),
  'echod: the whole Secret echod-tls as volume tls');
for (const name of ['echod', 'echod-headless']) {
  want(get('Service', name).spec.ports.some((p) => p.name === 'echo-tls' && p.port === 7443), `Service ${name} lacks echo-tls 7443`);
}
want(get('NetworkPolicy', 'echod').spec.ingress[0].ports.some((p) => p.port === 'echo-tls'), 'NetworkPolicy lacks echo-tls');
const mon = get('Deployment', 'echod-monitor').spec.template.spec;
const margs = mon.containers[0].args;
const first = margs.findIndex((a) => /^[a-z]+:\/\//.test(a));
for (const opt of ['--tls-ca', '--tls-server-name', '--proxy-protocol']) {
  const i = margs.indexOf(opt);
  want(i > 0 && i < first, `monitor: ${opt} missing or after the targets: ${margs.join(' ')}`);
}
want(margs.includes('tls://echod.echod.svc:7443') && margs.includes('tls://echod-headless.echod.svc:7443'), 'monitor lacks tls:// targets');
want(JSON.stringify(mon.volumes[0].secret.items) === '[{"key":"ca.crt","path":"ca.crt"}]', 'monitor must get ca.crt only');
console.log('deploy/components: TLS listener, ports, Secret directory; PROXY protocol v2; the monitor probes tls:// and sends v2');
JS

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
notes_of() {
  "$HELM" template echod "$TMP/notes-chart" --namespace echod --show-only templates/notes.yaml "$@" \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(require("js-yaml").load(s).data.notes))'
}
notes_of >"$TMP/NOTES.txt"
for want in "helm test echod --namespace echod" "/usr/local/bin/echo-probe tcp" "echo-probe http http://" \
  "echod.echod.svc:7007" "grace period 35s"; do
  grep -qF -- "$want" "$TMP/NOTES.txt" || die "NOTES.txt lacks '$want': $(cat "$TMP/NOTES.txt")"
done
notes_of -f "$chart/ci/proxy-protocol-values.yaml" --set tls.clientCaSecret=ca --set tls.probe.clientSecret=cli >"$TMP/NOTES-tls.txt"
for want in "TLS port:   echod.echod.svc:7443 (certificate from Secret echod-tls; client certificates required, CA from ca)" \
  "echo-probe tcp --tls --tls-ca ca.crt --tls-server-name echod.echod.svc --tls-cert client.crt --tls-key client.key" \
  "PROXY protocol (v2) is required on the echo ports, from 10.0.0.0/16, 10.244.0.0/16, fd00:10:244::/56 only" \
  "add --proxy-protocol v2"; do
  grep -qF -- "$want" "$TMP/NOTES-tls.txt" || die "NOTES.txt (TLS, PROXY) lacks '$want': $(cat "$TMP/NOTES-tls.txt")"
done
! grep -q "TLS\|PROXY" "$TMP/NOTES.txt" || die "NOTES.txt speaks of TLS or PROXY by default"
log "NOTES.txt renders with the probe commands (and the TLS port, the PROXY protocol when on)"

# The chart's PrometheusRule is a valid Prometheus rule file.
# rules_of RENDER OUT: the groups of RENDER's PrometheusRule as a plain rule file.
rules_of() {
  node -e '
const y=require("js-yaml"),fs=require("fs");
const r=y.loadAll(fs.readFileSync(process.argv[1],"utf8")).find(d=>d&&d.kind==="PrometheusRule");
fs.writeFileSync(process.argv[2], y.dump({groups:r.spec.groups}));' "$1" "$2"
}
rules_of "$TMP/ci-prometheusrule.yaml" "$TMP/chart-rules.yml"
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
rules_of "$TMP/ci-monitor.yaml" "$TMP/chart-monitor-rules.yml"
promtool check rules "$TMP/chart-monitor-rules.yml"
for alert in EchoPathErrors EchoPathDown EchoPathLatencyHigh EchoPathDisrupted; do
  grep -q "alert: $alert\$" "$TMP/chart-monitor-rules.yml" || die "chart PrometheusRule lacks $alert"
done
mutate "selects the pods of" 's/app.kubernetes.io\/name: echod-monitor/app.kubernetes.io\/name: echod/' "$TMP/ci-monitor.yaml"
mutate "livenessProbe port is admin, want the named port http" '/name: monitor/,/readinessProbe/{s/port: http/port: admin/}' "$TMP/ci-monitor.yaml"

# TLS and the PROXY protocol (ci/tls-values.yaml: mTLS, monitor, rules; ci/proxy-protocol-
# values.yaml: v2 behind a load balancer, TLS unverified): none of it by default.
! grep -q -- '--tls-\|--proxy-protocol\|echo-tls\|tls://' "$TMP/default.yaml" || die "TLS or PROXY protocol rendered by default"
node - "$TMP/ci-tls.yaml" "$TMP/ci-proxy-protocol.yaml" <<'JS' || die "TLS / PROXY protocol render is wrong"
const y = require('js-yaml'), fs = require('fs');
const load = (f) => y.loadAll(fs.readFileSync(f, 'utf8')).filter((d) => d);
const find = (docs, kind, name) => docs.find((d) => d.kind === kind && d.metadata.name === name)
  || (() => { throw new Error(`no ${kind}/${name}`); })();
const container = (spec, name) => spec.containers.find((c) => c.name === name)
  || (() => { throw new Error(`no container ${name}`); })();
// Each [flag, value] pair must appear in args as two adjacent items ([flag] alone: present).
const hasPairs = (where, args, pairs) => {
  for (const [flag, value] of pairs) {
    const i = args.indexOf(flag);
    if (i < 0 || (value !== undefined && args[i + 1] !== value)) {
      throw new Error(`${where}: want ${flag} ${value ?? ''}, args ${JSON.stringify(args)}`);
    }
  }
};
const port = (svc, name) => svc.spec.ports.find((p) => p.name === name);

const tls = load(process.argv[2]);
const dep = find(tls, 'Deployment', 'echod').spec.template.spec;
hasPairs('echod', container(dep, 'echod').args, [['--tls-listen', ':7443'], ['--tls-cert', '/etc/echod/tls/tls.crt'],
  ['--tls-key', '/etc/echod/tls/tls.key'], ['--tls-client-ca', '/etc/echod/tls-client-ca/ca.crt'],
  ['--tls-min-version', '1.3'], ['--tls-handshake-timeout', '5s']]);
const vol = dep.volumes.find((v) => v.name === 'tls');
if (vol.secret.secretName !== 'echod-tls' || vol.secret.items) throw new Error('tls volume: the whole Secret echod-tls, no items');
for (const name of ['echod', 'echod-headless']) {
  const p = port(find(tls, 'Service', name), 'echo-tls');
  if (!p || p.port !== 7443 || p.targetPort !== 'echo-tls') throw new Error(`Service ${name}: no echo-tls port 7443`);
}
const np = find(tls, 'NetworkPolicy', 'echod').spec.ingress[0];
if (!np.ports.some((p) => p.port === 'echo-tls') || !np.from) throw new Error('NetworkPolicy: echo-tls not in the echoFrom rule');
const test = find(tls, 'Pod', 'echod-test').spec;
const probe = container(test, 'echo-tls');
hasPairs('helm test', probe.args, [['--tls'], ['--tls-ca', '/etc/echo-probe/tls-ca/ca.crt'],
  ['--tls-server-name', 'echod.echod.svc'], ['--tls-cert', '/etc/echo-probe/tls-client/tls.crt'],
  ['--tls-key', '/etc/echo-probe/tls-client/tls.key']]);
if (probe.args[probe.args.length - 1] !== 'echod:7443') throw new Error(`helm test probes ${probe.args.slice(-1)}`);
// The probes get the CA of echod's Secret, never its private key.
const monSpec = find(tls, 'Deployment', 'echod-monitor').spec.template.spec;
for (const spec of [test, monSpec]) {
  const ca = spec.volumes.find((v) => v.name === 'tls-ca').secret;
  if (ca.secretName !== 'echod-tls' || JSON.stringify(ca.items) !== '[{"key":"ca.crt","path":"ca.crt"}]') {
    throw new Error(`tls-ca volume projects ${JSON.stringify(ca)}, want only ca.crt of echod-tls`);
  }
  if (spec.volumes.find((v) => v.name === 'tls-client').secret.secretName !== 'echod-probe-client') throw new Error('tls-client Secret');
}
const mon = container(monSpec, 'monitor').args;
hasPairs('monitor', mon, [['--tls-ca', '/etc/echo-probe/tls-ca/ca.crt'], ['--tls-server-name', 'echod.echod.svc'],
  ['--tls-cert', '/etc/echo-probe/tls-client/tls.crt'], ['tls://echod.echod.svc:7443'], ['tls://echod-headless.echod.svc:7443']]);
if (mon.includes('--proxy-protocol')) throw new Error('monitor sends a PROXY header with proxyProtocol off');

const pp = load(process.argv[3]);
hasPairs('echod', container(find(pp, 'Deployment', 'echod').spec.template.spec, 'echod').args,
  [['--proxy-protocol', 'v2'], ['--proxy-protocol-trusted', '10.0.0.0/16,10.244.0.0/16,fd00:10:244::/56'],
   ['--proxy-protocol-timeout', '2s']]);
const ptest = find(pp, 'Pod', 'echod-test').spec;
hasPairs('helm test echo', container(ptest, 'echo').args, [['--proxy-protocol', 'v2']]);
hasPairs('helm test echo-tls', container(ptest, 'echo-tls').args, [['--proxy-protocol', 'v2'], ['--tls-insecure']]);
if (container(ptest, 'echo-tls').args.includes('--tls-ca') || ptest.volumes) throw new Error('verify=insecure still mounts a CA');
hasPairs('monitor', container(find(pp, 'Deployment', 'echod-monitor').spec.template.spec, 'monitor').args,
  [['--proxy-protocol', 'v2'], ['--tls-insecure'], ['tls://echod.echod.svc:7443']]);
console.log('TLS: args, Secret directory, ports on both Services and the NetworkPolicy, helm test and monitor get the CA only; PROXY protocol: args, the probes send v2');
JS
rules_of "$TMP/ci-tls.yaml" "$TMP/chart-tls-rules.yml"
rules_of "$TMP/ci-proxy-protocol.yaml" "$TMP/chart-proxy-rules.yml"
promtool check rules "$TMP/chart-tls-rules.yml" "$TMP/chart-proxy-rules.yml"
for alert in EchodCertificateExpiresSoon EchodTlsReloadFailing EchodTlsHandshakesFailing; do
  grep -q "alert: $alert\$" "$TMP/chart-tls-rules.yml" || die "ci/tls PrometheusRule lacks $alert"
  ! grep -q "alert: $alert\$" "$TMP/chart-rules.yml" || die "$alert rendered without tls.enabled"
done
grep -q 'time() < 21 \* 86400' "$TMP/chart-tls-rules.yml" || die "prometheusRule.certificateExpiryDays not used"
! grep -q "EchodProxyProtocolRejected" "$TMP/chart-tls-rules.yml" || die "EchodProxyProtocolRejected rendered with proxyProtocol off"
grep -q "alert: EchodProxyProtocolRejected$" "$TMP/chart-proxy-rules.yml" || die "ci/proxy-protocol PrometheusRule lacks EchodProxyProtocolRejected"
[ "$(grep -c 'alert:' "$TMP/chart-tls-rules.yml")" -eq 12 ] || die "ci/tls PrometheusRule should hold 5 + 3 TLS + 4 monitor alerts"
mutate "mounted with subPath, which never sees a Secret update" 's#^\( *\)mountPath: /etc/echod/tls$#&\n\1subPath: tls.crt#' "$TMP/ci-tls.yaml"
mutate "is not the containerPort named echo-tls" 's/- ":7443"/- ":7444"/' "$TMP/ci-tls.yaml"
mutate "does not come from a Secret" '/^        - name: tls$/{n;s/secret:/configMap:/;n;s/secretName:/name:/}' "$TMP/ci-tls.yaml"

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
# echod accepts the rendered command lines too: the args of the echod container of every
# render (the chart's defaults and ci/ files, deploy/ alone and with its components), run
# through `echod --check-config` with the files they name taken from the rendered ConfigMap
# or made here (Secret keys: an openssl certificate and key, its ca.crt, a token). A command
# line with a flag this echod lacks (the TLS and PROXY flags before echod's side of issue 12)
# is listed and not run.
secrets="$TMP/secret-files"; mkdir -p "$secrets"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=echod.echod.svc \
  -addext subjectAltName=DNS:echod.echod.svc -keyout "$secrets/tls.key" -out "$secrets/tls.crt" 2>/dev/null \
  || die "openssl could not make a certificate"
cp "$secrets/tls.crt" "$secrets/ca.crt"
echo "check-config-token" >"$secrets/token"
# unknown_flags HELP ARG...: sets missing=(flags of ARGs that HELP does not list, of a feature
# HELP has no flag of at all: --tls-*, --proxy-protocol*, not there yet) and fails, naming it
# in $unknown, for any other flag HELP lacks (a typo, a renamed flag).
unknown_flags() {
  local help="$1" a family; shift
  missing=(); unknown=""
  for a in "$@"; do
    [[ "$a" == --* ]] || continue
    grep -qE -- "^ +(-[a-z],)?$a( |,|=|\$)" <<<"$help" && continue
    case "$a" in --tls*) family=--tls ;; --proxy-protocol*) family=--proxy-protocol ;; *) family="" ;; esac
    if [ -n "$family" ] && ! grep -qE -- "^ +$family" <<<"$help"; then missing+=("$a"); continue; fi
    unknown="$a"; return 1
  done
}
help="$("$ECHOD_BINARY" --help 2>&1)"
lines=0; pending=()
for render in "$TMP"/default.yaml "$TMP"/ci-*.yaml "$TMP"/kustomize.yaml "$TMP"/kustomize-components.yaml; do
  mapfile -d '' -t args < <(node - "$render" "$TMP/cmdline-files" "$secrets" <<'JS'
const y = require('js-yaml'), fs = require('fs'), path = require('path');
const [render, out, secrets] = process.argv.slice(2);
const docs = y.loadAll(fs.readFileSync(render, 'utf8')).filter((d) => d);
const dep = docs.find((d) => d.kind === 'Deployment' && d.spec.template.spec.containers.some((c) => c.name === 'echod'));
const spec = dep.spec.template.spec, c = spec.containers.find((x) => x.name === 'echod');
fs.mkdirSync(out, { recursive: true });
// A path under a volume mount: the ConfigMap's data written out, or the Secret key made above.
const local = (file) => {
  const m = (c.volumeMounts || []).find((v) => file === v.mountPath || file.startsWith(v.mountPath + '/'));
  if (!m) return file;
  const vol = spec.volumes.find((v) => v.name === m.name);
  const key = m.subPath || path.basename(file);
  if (vol.configMap) {
    const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === vol.configMap.name);
    const f = path.join(out, `${path.basename(render)}.${key}`);
    fs.writeFileSync(f, cm.data[key]);
    return f;
  }
  if (vol.secret && fs.existsSync(path.join(secrets, key))) return path.join(secrets, key);
  throw new Error(`${render}: no stand-in for ${file} (volume ${m.name})`);
};
process.stdout.write(c.args.map((a) => (a.startsWith('/') ? local(a) : a)).join('\0') + '\0');
JS
  )
  [ "${#args[@]}" -gt 0 ] || die "no echod args in $render"
  unknown_flags "$help" "${args[@]}" || die "$(basename "$render"): echod has no flag $unknown"
  if [ "${#missing[@]}" -gt 0 ]; then
    pending+=("$(basename "$render") (${missing[*]})")
    continue
  fi
  "$ECHOD_BINARY" --check-config "${args[@]}" >"$TMP/effective.json" 2>"$TMP/check.err" \
    || die "echod --check-config refuses the command line of $(basename "$render"): ${args[*]}: $(cat "$TMP/check.err")"
  lines=$((lines + 1))
done
[ "$lines" -ge 10 ] || die "only $lines rendered command lines checked"
log "echod --check-config accepts $lines rendered command lines"
for p in "${pending[@]}"; do log "not run, flags this echod lacks: $p"; done
# The chart's echo-probe command lines (helm test containers, the monitor) name only flags
# echo-probe has, by the same rule (features not there yet are listed).
probe="${ECHO_PROBE_BINARY:-$(dirname "$ECHOD_BINARY")/echo-probe}"
[ -x "$probe" ] || die "no echo-probe beside $ECHOD_BINARY"
n=0; pending=()
for render in "$TMP"/default.yaml "$TMP"/ci-*.yaml "$TMP"/kustomize.yaml "$TMP"/kustomize-components.yaml; do
  while IFS= read -r -d '' line; do
    IFS=$'\x1f' read -r -a cmd <<<"$line"
    unknown_flags "$("$probe" "${cmd[1]}" --help 2>&1)" "${cmd[@]:1}" \
      || die "$(basename "$render") ${cmd[0]}: echo-probe ${cmd[1]} has no flag $unknown"
    [ "${#missing[@]}" -eq 0 ] || pending+=("$(basename "$render") ${cmd[0]} (${missing[*]})")
    n=$((n + 1))
  done < <(node -e '
const y = require("js-yaml"), fs = require("fs");
for (const d of y.loadAll(fs.readFileSync(process.argv[1], "utf8")).filter((x) => x)) {
  const spec = d.kind === "Pod" ? d.spec : d.kind === "Deployment" ? d.spec.template.spec : null;
  for (const c of (spec && spec.containers) || []) {
    if ((c.command || []).some((x) => x.endsWith("/echo-probe"))) {
      process.stdout.write([`${d.metadata.name}/${c.name}`, ...c.args].join("\x1f") + "\0");
    }
  }
}' "$render")
done
[ "$n" -ge 20 ] || die "only $n echo-probe command lines found"
log "echo-probe knows every flag of $n rendered command lines"
for p in "${pending[@]}"; do log "flags this echo-probe lacks (a feature not in this build): $p"; done

else
  die "ECHOD_BINARY not set or not built: cannot check the rendered config files"
fi
echo "manifests validate: ok"
