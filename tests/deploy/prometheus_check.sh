#!/usr/bin/env bash
# deploy/prometheus/: `promtool check config` accepts the scrape configs, `promtool check
# rules` the alert rules, `promtool test rules` proves each alert fires and stays quiet, and
# every alert has a unit test.
source "$(dirname "$0")/lib.sh"
ensure_tools
need promtool
make_tmp
dir="$ECHOD_SOURCE_DIR/deploy/prometheus"
promtool --version 2>&1 | head -n 1

(cd "$dir" && promtool check config prometheus.yml)
(cd "$dir" && promtool check rules echod-rules.yml)
(cd "$dir" && promtool test rules echod-rules.test.yml)

for alert in EchodDown EchodConnectionsRejected EchodConfigReloadFailed EchodDrainTooLong \
  EchodFaultsActive EchodCertificateExpiresSoon EchodTlsReloadFailing EchodTlsHandshakesFailing \
  EchodProxyProtocolRejected EchoPathErrors EchoPathDown EchoPathLatencyHigh EchoPathDisrupted; do
  grep -q "alert: $alert$" "$dir/echod-rules.yml" || die "rule $alert missing"
  grep -q "alertname: $alert$" "$dir/echod-rules.test.yml" || die "no unit test for $alert"
done

# kubernetes.yml: Debian's promtool is built without Kubernetes service discovery (it
# refuses kubernetes_sd_configs as an unknown field). Check the block's shape here, then let
# promtool check the rest (relabel rules, rule_files) with the block swapped for static_configs.
node - "$dir/kubernetes.yml" "$TMP/kubernetes-static.yml" <<'JS'
const y = require('js-yaml'), fs = require('fs');
const [src, out] = process.argv.slice(2);
const cfg = y.load(fs.readFileSync(src, 'utf8'));
const roles = ['node', 'service', 'pod', 'endpoints', 'endpointslice', 'ingress'];
const keys = ['role', 'namespaces', 'selectors', 'api_server', 'kubeconfig_file', 'attach_metadata'];
let n = 0;
for (const job of cfg.scrape_configs) {
  for (const sd of job.kubernetes_sd_configs || []) {
    n++;
    if (!roles.includes(sd.role)) throw new Error(`${job.job_name}: role ${sd.role}`);
    for (const k of Object.keys(sd)) if (!keys.includes(k)) throw new Error(`${job.job_name}: unknown key ${k}`);
    if (sd.namespaces && !(sd.namespaces.names || []).every((s) => typeof s === 'string')) {
      throw new Error(`${job.job_name}: namespaces.names`);
    }
    const used = JSON.stringify(job.relabel_configs || []).match(/__meta_kubernetes_[a-z_]+/g) || [];
    for (const l of used) {
      if (sd.role === 'pod' && !/^__meta_kubernetes_(namespace|pod_.+)$/.test(l)) {
        throw new Error(`${job.job_name}: ${l} does not exist for role pod`);
      }
    }
  }
  if (job.kubernetes_sd_configs) {
    delete job.kubernetes_sd_configs;
    job.static_configs = [{ targets: ['127.0.0.1:8080'] }];
  }
}
if (n === 0) throw new Error('no kubernetes_sd_configs in kubernetes.yml');
cfg.rule_files = cfg.rule_files.map((f) => require('path').resolve(require('path').dirname(src), f));
fs.writeFileSync(out, y.dump(cfg));
console.log(`kubernetes.yml: ${n} kubernetes_sd_configs block(s) well-formed`);
JS
promtool check config "$TMP/kubernetes-static.yml"
echo "prometheus config and rules: ok"
