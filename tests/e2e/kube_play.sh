#!/usr/bin/env bash
# Real pods from the real YAML: the chart rendered by helm (ci/kube-play-values.yaml: two
# replicas, the admin-token Secret) and run by `podman kube play` with the image built by
# scripts/build-image.sh, in the project's own container storage (scripts/container-storage.sh:
# runc, lowered default ulimits; catatonit for podman's pause image).
#
# What `podman kube play` (4.3) honours and this test checks: the Deployment's replicas
# (two pods), args, the ConfigMap as echod's --config file, the Secret as the admin token
# file, the securityContext (UID/GID 65532, read-only root, no capabilities, no_new_privs,
# seccomp), POD_NAME from the downward API, hostPort with hostIP.
# What it ignores: Services, startup/readiness probes (the livenessProbe becomes a podman
# healthcheck that only systemd timers would run, and its httpGet would need curl in the
# image), PodDisruptionBudget, NetworkPolicy, ServiceAccount, topologySpreadConstraints,
# terminationGracePeriodSeconds. Where podman 4.3 differs from a kubelet (subPath, Secret
# data, downward API fields, containerPorts, kube down), the rendered YAML is adjusted below,
# each with its reason; docs/shipping.md has the table.
#
# Two pods of one Deployment cannot hold the same hostPort on one machine (a cluster puts
# them on two nodes), so the render gets one more object: the chart's Deployment copied as
# "<name>-hostport" with one replica whose ports are published on 127.0.0.1 only. Each of the
# two replicas is checked from inside its own pod network namespace (nsenter, loopback);
# the hostPort pod from the host's loopback. No other address is used.
#
# Then one echod gets SIGTERM (podman stop) while echo-probe holds 3 connections through the
# hostPort: it drains them, the probe loses no byte. The two replicas get SIGTERM with the
# rendered grace period, then `podman kube down` removes everything: it exits 0, and every
# echod drained (its log says drained=true) and exited 0 (podman's died events). podman
# 4.3's kube down itself kills at once (exit 137), so it is not what stops echod here.
source "$(cd "$(dirname "$0")/../deploy" && pwd)/lib.sh"
need podman buildah nsenter curl python3 catatonit
: "${ECHO_PROBE_BINARY:?}"
[ "$(id -u)" -eq 0 ] || die "needs root (rootful podman, nsenter)"
export ECHOD_CONTAINERS_DIR="${ECHOD_CONTAINERS_DIR:-$ECHOD_BUILD_DIR/containers}"
source "$ECHOD_SOURCE_DIR/scripts/container-storage.sh"
containers_storage_init
IMG="${IMG:-echod:dev}"
chart="$ECHOD_SOURCE_DIR/helm/echod"
name="kp$$"           # release name: objects are kp<pid>-echod...
fullname="$name-echod"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/echod-kube.XXXXXX")"
log_pids=()
cleanup() {
  local rc=$?
  set +e
  [ "$rc" -eq 0 ] || show_logs "$TMP" 8
  [ -f "$TMP/play.yaml" ] && pm kube down "$TMP/play.yaml" >/dev/null 2>&1
  for p in $(pm pod ps -q --filter "name=^$fullname" 2>/dev/null); do pm pod rm -f -t 0 "$p" >/dev/null 2>&1; done
  pm secret rm echod-admin-token >/dev/null 2>&1
  pm volume rm -f "$fullname" echod-admin-token >/dev/null 2>&1  # kube down leaves them
  for pid in "${log_pids[@]}" ${probe_pid:-}; do kill "$pid" 2>/dev/null; done
  [ -n "${ECHOD_KEEP_TMP:-}" ] && echo "kept $TMP" >&2 || rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT

log "image $IMG (built or reused by scripts/build-image.sh)"
BUILDER=buildah REUSE=1 "$ECHOD_SOURCE_DIR/scripts/build-image.sh" "$IMG" "$ECHOD_BUILD_DIR/cache" >"$TMP/build.log" 2>&1 \
  || { tail -n 30 "$TMP/build.log" >&2; die "image build failed"; }
ensure_tools

# --- the YAML: the chart's render, the Secret, the hostPort copy ---------------------------
hp_echo="$(free_port)"; hp_admin="$(free_port)"
[ "$hp_echo" != "$hp_admin" ] || hp_admin="$(free_port)"
token="kube-$RANDOM$RANDOM"
"$HELM" template "$name" "$chart" --namespace echod-kube --skip-tests \
  -f "$chart/ci/kube-play-values.yaml" --set image.tag="${IMG##*:}" --set image.repository="${IMG%:*}" \
  --set podDisruptionBudget.enabled=true --set networkPolicy.enabled=true >"$TMP/chart.yaml"
node - "$TMP/chart.yaml" "$TMP/play.yaml" "$token" "$hp_echo" "$hp_admin" <<'JS'
const y = require('js-yaml'), fs = require('fs');
const [src, out, token, hpEcho, hpAdmin] = process.argv.slice(2);
const docs = y.loadAll(fs.readFileSync(src, 'utf8')).filter(Boolean);
const dep = docs.find((d) => d.kind === 'Deployment');
if (!dep || dep.spec.replicas !== 2) throw new Error('the chart should render a Deployment with 2 replicas');
const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'echod-admin-token', namespace: dep.metadata.namespace },
                 // podman 4.3 writes `data` values into the volume verbatim (no base64
                 // decoding) and ignores `stringData` with items: the token goes in as text.
                 type: 'Opaque', data: { token: token } };
const hp = JSON.parse(JSON.stringify(dep));
hp.metadata.name += '-hostport';
hp.spec.replicas = 1;
const c = hp.spec.template.spec.containers.find((x) => x.name === 'echod');
for (const p of c.ports) {
  if (p.name === 'echo') Object.assign(p, { hostIP: '127.0.0.1', hostPort: Number(hpEcho) });
  if (p.name === 'admin') Object.assign(p, { hostIP: '127.0.0.1', hostPort: Number(hpAdmin) });
}
// podman 4.3 resolves only metadata.name of the downward API's fieldRefs and refuses the
// pod otherwise: the others become the values a kubelet would give (documented as a gap).
const given = { 'metadata.namespace': dep.metadata.namespace, 'spec.nodeName': 'kube-play-node' };
for (const d of [dep, hp]) {
  for (const e of d.spec.template.spec.containers.find((x) => x.name === 'echod').env || []) {
    const path = e.valueFrom && e.valueFrom.fieldRef && e.valueFrom.fieldRef.fieldPath;
    if (path in given) { delete e.valueFrom; e.value = given[path]; }
  }
}
// podman 4.3 publishes a containerPort without hostPort on the host's 0.0.0.0 at the same
// number: the two replicas would clash and open the echo port on every host interface. A
// containerPort is information only in Kubernetes; the replicas go without.
for (const x of dep.spec.template.spec.containers) delete x.ports;
// podman 4.3 ignores subPath: it would mount the whole ConfigMap volume (a directory) at
// /etc/echod/config.json. The test mounts it at /etc/echod/config/ and points --config there
// (not at /etc/echod: runc cannot make the admin token's mount point inside a read-only volume).
for (const d of [dep, hp]) {
  const c = d.spec.template.spec.containers.find((x) => x.name === 'echod');
  for (const m of c.volumeMounts) {
    if (m.subPath === 'config.json') { m.mountPath = '/etc/echod/config'; delete m.subPath; }
  }
  const i = c.args.indexOf('/etc/echod/config.json');
  if (i < 1 || c.args[i - 1] !== '--config') throw new Error(`args: ${c.args}`);
  c.args[i] = '/etc/echod/config/config.json';
}
// kube play gets the whole render (Service, PDB, NetworkPolicy, ServiceAccount included).
const kinds = docs.map((d) => d.kind);
for (const k of ['ConfigMap', 'Deployment', 'Service', 'PodDisruptionBudget', 'NetworkPolicy']) {
  if (!kinds.includes(k)) throw new Error(`the render lacks a ${k}`);
}
fs.writeFileSync(out, [...docs, hp].map((d) => y.dump(d)).join('---\n'));
fs.writeFileSync(out.replace(/play\.yaml$/, 'secret.yaml'), y.dump(secret));
console.log(`play.yaml: ${[...kinds, 'Deployment (hostport copy)'].join(', ')}; secret.yaml: the admin-token Secret`);
JS
# podman 4.3 reads a Secret volume from a podman secret whose data is the Kubernetes Secret
# object (a kind: Secret inside the played YAML crashes its VolumeFromSecret).
pm secret rm echod-admin-token >/dev/null 2>&1 || true
pm volume rm -f echod-admin-token >/dev/null 2>&1 || true  # a stale one would hold an old token
pm secret create echod-admin-token "$TMP/secret.yaml" >/dev/null

# --- kube play -----------------------------------------------------------------------------
start=$SECONDS
pm kube play "$TMP/play.yaml" >"$TMP/play.log" 2>&1 || { cat "$TMP/play.log" >&2; die "podman kube play failed"; }
log "kube play: $(grep -c '^Pod:' "$TMP/play.log") pods in $((SECONDS - start))s"
pods=("$fullname-pod-0" "$fullname-pod-1" "$fullname-hostport-pod-0")
for p in "${pods[@]}"; do
  pm container exists "$p-echod" || die "no container $p-echod: $(pm ps -a --format '{{.Names}}' | tr '\n' ' ')"
  pm logs -f "$p-echod" >"$TMP/$p.log" 2>&1 &
  log_pids+=("$!")
done
[ "$(pm pod ps -q --filter "name=^$fullname-pod-" | wc -l)" -eq 2 ] || die "want exactly 2 replicas"

pid_of() { pm inspect -f '{{.State.Pid}}' "$1-echod"; }
in_pod() { local pid; pid="$(pid_of "$1")"; shift; nsenter --net="/proc/$pid/ns/net" "$@"; }
pod_ready() { in_pod "$1" curl -fsS --max-time 1 -o /dev/null http://127.0.0.1:8080/readyz; }
for p in "${pods[@]}"; do
  wait_for 30 "$p /readyz inside its pod" pod_ready "$p" || die "$p never became ready"
done
log "3 pods ready ($((SECONDS - start))s after kube play)"

# --- each replica: securityContext, config, secret, echo, admin -----------------------------
for p in "${pods[@]}"; do
  pid="$(pid_of "$p")"
  status="$(cat "/proc/$pid/status")"
  grep -Eq '^Uid:\s+65532\s+65532\s+65532\s+65532$' <<<"$status" || die "$p: echod uid: $(grep ^Uid <<<"$status")"
  grep -Eq '^Gid:\s+65532\s+65532\s+65532\s+65532$' <<<"$status" || die "$p: echod gid: $(grep ^Gid <<<"$status")"
  for cap in CapEff CapPrm CapBnd; do
    grep -Eq "^$cap:\s+0000000000000000$" <<<"$status" || die "$p: $(grep "^$cap" <<<"$status"), want no capabilities"
  done
  grep -Eq '^NoNewPrivs:\s+1$' <<<"$status" || die "$p: no_new_privs not set"
  grep -Eq '^Seccomp:\s+2$' <<<"$status" || die "$p: no seccomp filter"
  [ "$(pm inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$p-echod")" = true ] || die "$p: root filesystem is writable"
  env="$(tr '\0' '\n' <"/proc/$pid/environ")"
  grep -qx "POD_NAME=$p" <<<"$env" || die "$p: POD_NAME from the downward API: $(grep POD_ <<<"$env")"
  grep -qx "POD_NAMESPACE=echod-kube" <<<"$env" || die "$p: POD_NAMESPACE: $(grep POD_ <<<"$env")"
  grep -qx "NODE_NAME=kube-play-node" <<<"$env" || die "$p: NODE_NAME: $(grep NODE_ <<<"$env")"

  in_pod "$p" "$ECHO_PROBE_BINARY" tcp -c 2 -n 200 -s 512 -q --json 127.0.0.1:7007 >"$TMP/$p-tcp.json" \
    || die "$p: echo-probe tcp inside the pod failed: $(cat "$TMP/$p-tcp.json")"
  in_pod "$p" "$ECHO_PROBE_BINARY" http -q http://127.0.0.1:8080 >/dev/null || die "$p: echo-probe http failed"
  in_pod "$p" curl -fsS http://127.0.0.1:8080/config >"$TMP/$p-config.json" || die "$p: GET /config"
  in_pod "$p" curl -fsS http://127.0.0.1:8080/metrics >"$TMP/$p-metrics.txt" || die "$p: GET /metrics"
  code() { in_pod "$p" curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $1" \
    --data '{"log_level":"info"}' http://127.0.0.1:8080/config; }
  got="$(code "$token")"; [ "$got" = 200 ] || die "$p: PUT /config with the Secret's token: want 200, got $got; token file: $(od -c "$(pm volume inspect echod-admin-token --format "{{.Mountpoint}}")/token" | head -n 3)"
  [ "$(code wrong)" = 401 ] || die "$p: PUT /config with a wrong token: want 401"
  python3 - "$TMP/$p-tcp.json" "$TMP/$p-config.json" "$TMP/$p-metrics.txt" "$p" <<'PY' || die "$p: wrong answers"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["errors"] == 0 and r["sent"] == r["received"] == 400 and r["verified_bytes"] == 400 * 512, r
cfg = json.load(open(sys.argv[2]))
assert cfg["max_connections"] == 5000 and cfg["drain_timeout"] in ("5s", 5), cfg  # from the ConfigMap
m = open(sys.argv[3]).read()
assert "echod_build_info{" in m and "\nechod_connections_accepted_total " in m, "metrics"
# echod's side of instance identity (issue 14, the lead's part): once /metrics has the
# gauge, its labels must be this pod's downward-API values.
info = [l for l in m.splitlines() if l.startswith("echod_instance_info{")]
if info:
    pod = sys.argv[4]
    assert len(info) == 1 and f'pod="{pod}"' in info[0] and 'namespace="echod-kube"' in info[0] \
        and 'node="kube-play-node"' in info[0] and info[0].endswith(" 1"), info
PY
  log "$p: uid/gid 65532, no capabilities, no_new_privs, seccomp, read-only root; 400 x 512 B echoed and verified; ConfigMap and Secret in use"
done

# --- the hostPort pod from the host's loopback ----------------------------------------------
"$ECHO_PROBE_BINARY" tcp -c 4 -n 250 -q --json "127.0.0.1:$hp_echo" >"$TMP/hostport-tcp.json" \
  || die "echo-probe tcp 127.0.0.1:$hp_echo (hostPort) failed: $(cat "$TMP/hostport-tcp.json")"
"$ECHO_PROBE_BINARY" http -q "http://127.0.0.1:$hp_admin" >/dev/null || die "echo-probe http on the admin hostPort failed"
curl -fsS "http://127.0.0.1:$hp_admin/" >"$TMP/root.json" || die "GET / on the admin hostPort"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["errors"]==0 and r["received"]==1000, r' "$TMP/hostport-tcp.json" \
  || die "hostPort echo: $(cat "$TMP/hostport-tcp.json")"
log "hostPort 127.0.0.1:$hp_echo (echo) and :$hp_admin (admin): 1000 messages verified, /livez /readyz 200"

# --- drain with a client connected: SIGTERM to one echod, as the kubelet sends it ------------
# (`podman kube down` stops a pod's infra container together with the others and tears the
# pod network down at once, so connections open during kube down are cut by podman, not by
# echod; a kubelet keeps the network until the containers have exited. So the drain under
# load is shown with `podman stop` of the hostPort pod's echod, the pods then go with kube down.)
"$ECHO_PROBE_BINARY" tcp -c 3 -d 120s -r 300 -q --json "127.0.0.1:$hp_echo" >"$TMP/drain-probe.json" 2>"$TMP/drain-probe.log" &
probe_pid=$!
probe_connected() {
  [ "$(curl -fsS --max-time 1 "http://127.0.0.1:$hp_admin/metrics" | awk '$1 == "echod_connections_active" {print int($2)}')" -ge 3 ]
}
wait_for 20 "the probe's 3 connections on the hostPort pod" probe_connected || die "probe never connected: $(cat "$TMP/drain-probe.log")"
since="$(date +%s)"
hp_pod="$fullname-hostport-pod-0"
pm stop -t 20 "$hp_pod-echod" >"$TMP/stop.log" 2>&1 &
stop_pid=$!
# Listeners closed with the probe's connections still open: then the client finishes (SIGINT:
# no new messages, the summary), and echod drains the rest and exits.
draining() { grep -q '"msg":"shutdown: listeners closed, draining","active_connections":3' "$TMP/$hp_pod.log"; }
wait_for 20 "$hp_pod closes its listeners with the probe's 3 connections open" draining \
  || die "$hp_pod: $(grep shutdown "$TMP/$hp_pod.log")"
kill -INT "$probe_pid"
rc=0; wait "$probe_pid" || rc=$?
[ "$rc" -eq 0 ] || die "echo-probe lost bytes while $hp_pod drained (exit $rc): $(cat "$TMP/drain-probe.json")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["errors"]==0 and r["sent"]==r["received"]>0, r' "$TMP/drain-probe.json" \
  || die "drain probe: $(cat "$TMP/drain-probe.json")"
wait "$stop_pid" || die "podman stop $hp_pod-echod failed: $(cat "$TMP/stop.log")"
log "$hp_pod: SIGTERM with 3 connections open, drained; the probe's $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["received"])' "$TMP/drain-probe.json") messages all verified"

# --- the other two drain and exit 0, then kube down --------------------------------------------
# podman 4.3's `kube down` gives no grace period: SIGTERM and SIGKILL at once (exit 137), so it
# cannot drain anything. The pods are stopped first the way a kubelet stops them (SIGTERM, then
# the rendered terminationGracePeriodSeconds), then kube down removes them.
grace="$(node -e 'const y=require("js-yaml"),fs=require("fs");
  const d=y.loadAll(fs.readFileSync(process.argv[1],"utf8")).find((o)=>o&&o.kind==="Deployment");
  console.log(d.spec.template.spec.terminationGracePeriodSeconds)' "$TMP/play.yaml")"
start=$SECONDS
pm stop -t "$grace" "$fullname-pod-0-echod" "$fullname-pod-1-echod" >/dev/null || die "podman stop of the replicas failed"
log "replicas stopped in $((SECONDS - start))s (grace period $grace s)"
start=$SECONDS
pm kube down "$TMP/play.yaml" >"$TMP/down.log" 2>&1 || { cat "$TMP/down.log" >&2; die "podman kube down failed"; }
took=$((SECONDS - start))
for pid in "${log_pids[@]}"; do timeout 10 tail --pid="$pid" -f /dev/null; done
for p in "${pods[@]}"; do
  grep -q '"msg":"echod stopped","drained":true' "$TMP/$p.log" || die "$p did not drain: $(tail -n 3 "$TMP/$p.log")"
  codes="$(pm events --stream=false --since "$since" --filter event=died --filter "container=$p-echod" --format '{{.ContainerExitCode}}')"
  [ "$codes" = 0 ] || die "$p: echod exit code(s) '$codes', want 0"
done
[ -z "$(pm pod ps -q --filter "name=^$fullname")" ] || die "pods left after kube down"
log "kube down: exit 0 after ${took}s, no pod left; all 3 echod drained (drained=true) and exited 0"
echo "kube play: ok"
