#!/usr/bin/env bash
# The image tier on a machine where podman was used before: a default podman storage with the
# overlay driver (what `podman` on a fresh Debian makes on first use) holding the user's own
# image and container. The tier (image_run.sh and kube_play.sh: build, run, kube play) must
# pass beside it and leave it untouched: the same images and containers, and not one file of
# the default storage created, removed, resized or even touched (mtime).
#
# The "user's" storage lives at the real default paths (/var/lib/containers, /run/containers,
# /run/libpod), bind-mounted from a temporary folder inside a private mount namespace of this
# test (unshare --mount), so the machine's real default storage, whoever uses it, is never
# involved either. It first shows that the clash of issue 14 is real there: forcing vfs on
# that storage, as the old tier did, fails with "does not match".
source "$(cd "$(dirname "$0")/../deploy" && pwd)/lib.sh"
need podman unshare tar
[ "$(id -u)" -eq 0 ] || die "needs root (mount namespace, rootful podman)"
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${ECHOD_PRIVATE_MOUNTS:-}" ]; then
  export ECHOD_PRIVATE_MOUNTS=1
  exec unshare --mount --propagation private -- bash "$0" "$@"
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/echod-storage.XXXXXX")"
defaults=(/var/lib/containers /run/containers /run/libpod)
made=()
cleanup() {
  local rc=$?
  set +e
  for d in "${defaults[@]}"; do umount -R -l "$d" 2>/dev/null; done
  for d in "${made[@]}"; do rmdir "$d" 2>/dev/null; done  # mount points this test made, if still empty
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
for d in "${defaults[@]}"; do
  [ -d "$d" ] || { mkdir -p "$d"; made+=("$d"); }
  mkdir -p "$TMP/default$d"
  mount --bind "$TMP/default$d" "$d"
done

# --- the user's podman, all defaults -------------------------------------------------------
user_podman() { env -u CONTAINERS_STORAGE_CONF -u CONTAINERS_CONF podman "$@"; }
mkdir "$TMP/rootfs"; echo "the user's own image" >"$TMP/rootfs/hello.txt"
tar -C "$TMP/rootfs" -c . | user_podman import - localhost/users-own-image:1 >/dev/null
user_podman create --name users-own-container localhost/users-own-image:1 /hello.txt >/dev/null
driver="$(user_podman info --format '{{.Store.GraphDriverName}} {{.Store.GraphRoot}}')"
log "default storage: $driver"
[ "$driver" = "overlay /var/lib/containers/storage" ] || die "the default storage should be overlay in /var/lib/containers/storage, is $driver"

# The clash the old tier hit (forcing vfs on the same storage), reproduced.
if out="$(env -u CONTAINERS_STORAGE_CONF podman --storage-driver vfs images 2>&1)"; then
  die "forcing vfs on an overlay default storage worked; this test no longer reproduces issue 14: $out"
fi
grep -q 'does not match' <<<"$out" || die "unexpected error from podman --storage-driver vfs: $out"
log "old tier's way (podman --storage-driver vfs on the default storage): $(grep -o 'database[^:]*does not match[^:]*' <<<"$out" | head -n 1)"

snapshot() {
  user_podman images --format '{{.ID}} {{.Repository}}:{{.Tag}} {{.Size}}' | sort
  user_podman ps -a --format '{{.ID}} {{.Names}} {{.Image}} {{.Status}}' | sort
}
tree() { find "${defaults[@]}" -printf '%y %p %s %T@\n' | sort; }
snapshot >"$TMP/podman-before.txt"
tree >"$TMP/tree-before.txt"
grep -q users-own-image "$TMP/podman-before.txt" && grep -q users-own-container "$TMP/podman-before.txt" \
  || die "the user's image or container is missing: $(cat "$TMP/podman-before.txt")"

# --- the image tier, beside it ---------------------------------------------------------------
start=$SECONDS
for t in image_run.sh kube_play.sh; do
  log "running $t"
  bash "$here/$t" >"$TMP/$t.log" 2>&1 || { tail -n 40 "$TMP/$t.log" >&2; die "$t failed beside an overlay default storage"; }
  tail -n 1 "$TMP/$t.log"
done
log "image tier passed in $((SECONDS - start))s"

# --- untouched --------------------------------------------------------------------------------
tree >"$TMP/tree-after.txt"
diff "$TMP/tree-before.txt" "$TMP/tree-after.txt" >&2 || die "the image tier changed files of the default storage"
snapshot >"$TMP/podman-after.txt"
diff "$TMP/podman-before.txt" "$TMP/podman-after.txt" >&2 || die "the user's images or containers changed"
log "default storage untouched: $(wc -l <"$TMP/tree-before.txt") paths identical (type, size, mtime); images and containers:"
sed 's/^/     /' "$TMP/podman-after.txt" >&2
echo "storage isolation: ok"
