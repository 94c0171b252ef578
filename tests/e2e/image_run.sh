#!/usr/bin/env bash
# The container image, for real: built from the Dockerfile (scripts/build-image.sh with buildah
# and a locally made debian:bookworm-slim, in the project's own container storage under the
# build dir: the machine's default storage is never used), inspected (user, ports,
# entrypoint, labels, at most 20 MB uncompressed, and its whole file list: the binaries, the
# libraries the loader resolves for them and nothing else, no /bin/sh), run with podman the
# way Kubernetes runs it with the chart's securityContext (read-only root, no capabilities,
# no new privileges, UID 65532), probed with echo-probe on the echo and admin ports (both
# from the host and with the image's own echo-probe, as `helm test` does, by address and by
# name), the admin token read from a file mounted like the chart's Secret, then SIGTERM:
# exit code 0 within the drain window.
source "$(cd "$(dirname "$0")/../deploy" && pwd)/lib.sh"
need podman buildah curl python3
: "${ECHO_PROBE_BINARY:?}"
[ -x "$ECHO_PROBE_BINARY" ] || die "echo-probe not built: $ECHO_PROBE_BINARY"
IMG="${IMG:-echod:dev}"
# Our own storage (pm = podman --root/--runroot under the build dir), shared with the other
# image tests through CTest's RESOURCE_LOCK echod_container_storage.
export ECHOD_CONTAINERS_DIR="${ECHOD_CONTAINERS_DIR:-$ECHOD_BUILD_DIR/containers}"
source "$ECHOD_SOURCE_DIR/scripts/container-storage.sh"
containers_storage_init
MAX_IMAGE_BYTES=$((20 * 1000 * 1000))
name="echod-e2e-$$"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/echod-image.XXXXXX")"
cleanup() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ]; then pm logs "$name" 2>&1 | tail -n 20 >&2; fi
  pm rm -f -i -t 0 "$name" >/dev/null 2>&1
  pm rm -f -i -t 0 "$name-files" >/dev/null 2>&1
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT

# The image build caches its layers in container storage and the base rootfs under the
# build dir, so a second run only rebuilds what changed.
log "building $IMG"
start=$SECONDS
# BUILDER=buildah: the image must land where podman runs it. REUSE=1: an image built from
# the same build context (Dockerfile and copied sources, hashed) is not rebuilt.
BUILDER=buildah REUSE="${ECHOD_IMAGE_REUSE:-1}" \
  "$ECHOD_SOURCE_DIR/scripts/build-image.sh" "$IMG" "$ECHOD_BUILD_DIR/cache" >"$TMP/build.log" 2>&1 \
  || { tail -n 30 "$TMP/build.log" >&2; die "image build failed"; }
log "$(grep -E 'up to date|buildah bud' "$TMP/build.log" | tail -n 1 | sed 's/^>> //') ($((SECONDS - start))s)"

pm image inspect "$IMG" >"$TMP/inspect.json"
python3 - "$TMP/inspect.json" "$MAX_IMAGE_BYTES" <<'PY' || die "image metadata is wrong"
import json, sys
img = json.load(open(sys.argv[1]))[0]
cfg = img["Config"]
assert cfg.get("User") == "65532:65532", cfg.get("User")
assert cfg.get("Entrypoint") == ["/usr/local/bin/echod"], cfg.get("Entrypoint")
assert set(cfg.get("ExposedPorts", {})) == {"7007/tcp", "7443/tcp", "8080/tcp"}, cfg.get("ExposedPorts")
labels = cfg.get("Labels") or {}
for k in ("title", "description", "version", "revision", "created", "base.name"):
    assert labels.get("org.opencontainers.image." + k), f"label {k} missing"
assert len(img["RootFS"]["Layers"]) == 1, f"runtime image should be one layer, has {len(img['RootFS']['Layers'])}"
assert img["Size"] <= int(sys.argv[2]), f"image is {img['Size']} bytes uncompressed, limit {sys.argv[2]}"
print(f"image: user {cfg['User']}, entrypoint {cfg['Entrypoint']}, ports {sorted(cfg['ExposedPorts'])}, "
      f"size {img['Size'] / 1e6:.2f} MB uncompressed (limit {int(sys.argv[2]) / 1e6:.0f} MB), "
      f"revision {labels['org.opencontainers.image.revision']}")
PY

# The image's whole file system, exported from a container that never runs.
pm create --name "$name-files" "$IMG" >/dev/null
mkdir "$TMP/rootfs"
pm export "$name-files" | tar -C "$TMP/rootfs" -x
pm rm "$name-files" >/dev/null
(cd "$TMP/rootfs" && find . \( -type f -o -type l \) -printf '%s\t%P\n' | sort -k2) >"$TMP/files.txt"
log "image contents:"; sed 's/^/     /' "$TMP/files.txt" >&2
[ ! -e "$TMP/rootfs/bin/sh" ] && [ ! -L "$TMP/rootfs/bin/sh" ] || die "/bin/sh is in the image"
for f in bin/bash usr/bin/apt usr/bin/dpkg usr/bin/env bin/busybox; do
  [ ! -e "$TMP/rootfs/$f" ] || die "$f is in the image"
done
# No shell to run ldd with: the image's own loader lists what it resolves (no "not found"),
# and the image holds exactly those libraries and the loader.
for bin in echod echo-probe; do
  chroot "$TMP/rootfs" /lib64/ld-linux-x86-64.so.2 --list "/usr/local/bin/$bin" >>"$TMP/ldd.txt" \
    || die "the image's loader cannot load $bin: $(cat "$TMP/ldd.txt")"
done
! grep -q 'not found' "$TMP/ldd.txt" || die "missing shared libraries: $(grep 'not found' "$TMP/ldd.txt")"
awk '$2 == "=>" && $3 ~ /^\// {print substr($3, 2)} $1 ~ /^\// {print substr($1, 2)}' "$TMP/ldd.txt" | sort -u >"$TMP/libs-needed.txt"
grep -E '\.so(\.|$)' <(cut -f2 "$TMP/files.txt") | sort -u >"$TMP/libs-present.txt"
diff "$TMP/libs-needed.txt" "$TMP/libs-present.txt" >"$TMP/libs.diff" \
  || die "libraries in the image differ from what the loader needs (< needed, > present): $(cat "$TMP/libs.diff")"
allowed='^(usr/local/bin/(echod|echo-probe)|etc/(passwd|group|nsswitch\.conf|ssl/certs/ca-certificates\.crt)|.*\.so(\.[0-9.]+)?)$'
extra="$(cut -f2 "$TMP/files.txt" | grep -Ev "$allowed" || true)"
[ -z "$extra" ] || die "unexpected files in the image: $extra"
grep -q '^nonroot:x:65532:65532:' "$TMP/rootfs/etc/passwd" || die "no passwd entry for 65532"
grep -q '^nonroot:x:65532:' "$TMP/rootfs/etc/group" || die "no group entry for 65532"
log "$(wc -l <"$TMP/libs-present.txt") libraries (all the loader needs, nothing else), no shell, $(awk '{s += $1} END {printf "%.2f MB", s / 1e6}' "$TMP/files.txt") of files"

# No shell inside: running one fails.
if pm run --rm --runtime runc --network none --entrypoint /bin/sh "$IMG" -c true >"$TMP/sh.out" 2>&1; then
  die "/bin/sh ran inside the image"
fi
pm run --rm --runtime runc --network none --ulimit nofile=16384:16384 --ulimit nproc=4096:4096 "$IMG" --version | tee "$TMP/version.txt"
grep -q '0\.1\.0' "$TMP/version.txt" || die "echod --version in the image: $(cat "$TMP/version.txt")"

echo_port="$(free_port)"; admin_port="$(free_port)"
[ "$echo_port" != "$admin_port" ] || admin_port="$(free_port)"
run_flags=(--runtime runc --network host --ulimit nofile=16384:16384 --ulimit nproc=4096:4096
  --read-only --cap-drop ALL --security-opt no-new-privileges)
# The admin token as the chart mounts it: a Secret file, mode 0440, group = fsGroup 65532.
token="e2e-$RANDOM$RANDOM"
printf '%s\n' "$token" >"$TMP/token"
chown 0:65532 "$TMP/token"; chmod 0440 "$TMP/token"
pm run -d --name "$name" "${run_flags[@]}" -v "$TMP/token:/etc/echod/admin/token:ro" "$IMG" \
  --listen "127.0.0.1:$echo_port" --admin-listen "127.0.0.1:$admin_port" \
  --admin-token-file /etc/echod/admin/token --shutdown-delay 1s --drain-timeout 5s >/dev/null
ready() { curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$admin_port/readyz"; }
wait_for 30 "the container's /readyz" ready || die "echod in the container never became ready"
[ "$(pm inspect -f '{{.State.Running}}' "$name")" = true ] || die "container not running"
uid="$(pm top "$name" huser 2>/dev/null | tail -n 1 | tr -d ' ')"
log "echod runs in the container as user ${uid:-?}"
[ -z "$uid" ] || [ "$uid" = 65532 ] || die "echod runs as $uid, want 65532"

"$ECHO_PROBE_BINARY" tcp -c 4 -d 3s --json -q "127.0.0.1:$echo_port" >"$TMP/tcp.json" \
  || die "echo-probe tcp against the container failed: $(cat "$TMP/tcp.json")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["errors"]==0 and r["mismatches"]==0 and r["received"]==r["sent"]>0, r; print("host echo-probe tcp:", r["sent"], "messages verified")' "$TMP/tcp.json"
"$ECHO_PROBE_BINARY" http "http://127.0.0.1:$admin_port" || die "echo-probe http against the container failed"
# The image's own echo-probe (what `helm test` runs), as the same non-root user.
pm run --rm "${run_flags[@]}" --entrypoint /usr/local/bin/echo-probe "$IMG" \
  tcp -c 2 -n 200 -q "127.0.0.1:$echo_port" || die "the image's echo-probe tcp failed"
pm run --rm "${run_flags[@]}" --entrypoint /usr/local/bin/echo-probe "$IMG" \
  http "http://127.0.0.1:$admin_port" || die "the image's echo-probe http failed"
# A name, not an address: glibc's built-in files/dns lookup with the image's nsswitch.conf.
pm run --rm "${run_flags[@]}" --add-host echod-e2e.test:127.0.0.1 --entrypoint /usr/local/bin/echo-probe "$IMG" \
  tcp -n 10 -q "echod-e2e.test:$echo_port" || die "the image's echo-probe cannot resolve a name from /etc/hosts"
curl -fsS -o "$TMP/metrics.txt" "http://127.0.0.1:$admin_port/metrics" || die "GET /metrics failed"
grep -q '^echod_build_info' "$TMP/metrics.txt" || die "/metrics lacks echod_build_info"

# PUT /config with the mounted token (the chart's adminToken.existingSecret): 200, else 401.
put_config() {
  curl -s -o "$TMP/put.json" -w '%{http_code}' -X PUT -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' --data '{"log_level":"debug"}' "http://127.0.0.1:$admin_port/config"
}
[ "$(put_config wrong-token)" = 401 ] || die "PUT /config with a wrong token: want 401, got $(cat "$TMP/put.json")"
[ "$(put_config "$token")" = 200 ] || die "PUT /config with the mounted token: want 200, got $(cat "$TMP/put.json")"
grep -q '"log_level": *"debug"' "$TMP/put.json" || die "PUT /config did not apply: $(cat "$TMP/put.json")"
log "admin token read from a 0440 root:65532 file; PUT /config 200 with it, 401 without"

# The chart's `helm test` Pod, container by container, with this image: the same command
# and args as rendered, the Service name pointed at this container's loopback address.
ensure_tools
"$HELM" template echod "$ECHOD_SOURCE_DIR/helm/echod" --show-only templates/tests/test-echo.yaml \
  --set fullnameOverride=127.0.0.1 --set service.echoPort="$echo_port" --set service.adminPort="$admin_port" \
  | node -e '
let s = ""; process.stdin.on("data", (d) => s += d).on("end", () => {
  const pod = require("js-yaml").load(s);
  for (const c of pod.spec.containers) console.log([c.name, ...c.command, ...c.args].join("\t"));
});' >"$TMP/helm-test-pod.tsv"
[ "$(wc -l <"$TMP/helm-test-pod.tsv")" -eq 2 ] || die "helm test Pod should have 2 containers"
while IFS=$'\t' read -r cname entry args; do
  read -r -a argv <<<"$(tr '\t' ' ' <<<"$args")"
  log "helm test container '$cname': $entry ${argv[*]}"
  pm run --rm "${run_flags[@]}" --entrypoint "$entry" "$IMG" "${argv[@]}" >"$TMP/helm-test-$cname.out" 2>&1 \
    || die "helm test container $cname failed: $(tail -n 5 "$TMP/helm-test-$cname.out")"
done <"$TMP/helm-test-pod.tsv"

# SIGTERM: readiness off, 1s delay, drain (no clients), exit 0 well within 1s + 5s.
log "SIGTERM to the container"
start=$SECONDS
pm kill --signal TERM "$name" >/dev/null
timeout 20 podman "${CS_FLAGS[@]}" --tmpdir "$ECHOD_CONTAINERS_DIR/tmp" wait "$name" >"$TMP/exit" || die "container still running 20s after SIGTERM"
took=$((SECONDS - start))
code="$(tail -n 1 "$TMP/exit")"
pm logs "$name" >"$TMP/container.log" 2>&1
tail -n 4 "$TMP/container.log"
[ "$code" = 0 ] || die "echod exited $code after SIGTERM, want 0"
[ "$took" -le 8 ] || die "echod took ${took}s to exit, drain window is 1s + 5s"
grep -q 'shutdown' "$TMP/container.log" || die "no shutdown phase in the logs"
log "exit code 0 after ${took}s"
echo "image: ok"
