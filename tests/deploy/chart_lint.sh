#!/usr/bin/env bash
# helm lint --strict passes for the defaults and for every ci/*-values.yaml, and fails for
# values the schema or the templates must refuse.
source "$(dirname "$0")/lib.sh"
ensure_tools
chart="$ECHOD_SOURCE_DIR/helm/echod"
"$HELM" version --short

"$HELM" lint --strict "$chart"
n=0
for values in "$chart"/ci/*-values.yaml; do
  "$HELM" lint --strict "$chart" -f "$values" >/dev/null || die "helm lint --strict -f $values"
  n=$((n + 1))
done
[ "$n" -ge 6 ] || die "expected a ci/*-values.yaml per optional feature, found $n"
log "lint --strict passes for defaults and $n ci values files"

# Refusals: each must fail, and name the reason.
refuse() {
  local why="$1"; shift
  local out
  if out="$("$HELM" template t "$chart" "$@" 2>&1)"; then
    die "helm template $* succeeded; expected a refusal ($why)"
  fi
  grep -q -- "$why" <<<"$out" || die "helm template $*: error does not mention '$why': $out"
  log "refused ($why): $*"
}
refuse "must be greater than config.shutdown_delay + config.drain_timeout" --set terminationGracePeriodSeconds=25
refuse "must be greater than config.shutdown_delay + config.drain_timeout" --set config.drain_timeout=2m --set terminationGracePeriodSeconds=60
refuse "Additional property max_conections is not allowed" --set config.max_conections=5
refuse "Does not match pattern" --set-string config.drain_timeout=20
refuse "log_level" --set config.log_level=verbose
refuse "minReplicas must not exceed" --set autoscaling.enabled=true --set autoscaling.minReplicas=5 --set autoscaling.maxReplicas=2
# TLS and the PROXY protocol: half-configured values are refused before a pod crashloops.
refuse "tls.enabled needs tls.existingSecret" --set tls.enabled=true
refuse "tls.port must differ from ports.echo" --set tls.enabled=true --set tls.existingSecret=s --set tls.port=7007
refuse "needs tls.probe.clientSecret" --set tls.enabled=true --set tls.existingSecret=s --set tls.clientCaSecret=ca
refuse "minVersion" --set tls.enabled=true --set tls.existingSecret=s --set-string tls.minVersion=1.1
refuse "verify" --set tls.probe.verify=none
refuse "mode" --set proxyProtocol.mode=v3
refuse "trusted" --set 'proxyProtocol.trusted={10.0.0.0}'
refuse "Does not match pattern" --set-string proxyProtocol.timeout=3
echo "chart lint: ok"
