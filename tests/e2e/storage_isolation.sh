#!/usr/bin/env bash
# The image tier on a machine where podman was used before: a default podman storage with the
# overlay driver (what `podman` on a fresh Debian makes on first use) holding the user's own
# image and container. The tier (image_run.sh and kube_play.sh: build, run, kube play) must
# pass beside it and leave it untouched: the same images and containers, and not one file of
# the default storage created, removed, resized or even touched (mtime). A small build
# (import, buildah bud) in our storage must leave it untouched too, but for the shared
# blob-info cache file podman and buildah write whatever --root says (reported).
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
tree >"$TMP/tree-after.txt"
diff "$TMP/tree-before.txt" "$TMP/tree-after.txt" >&2 || die "the image tier changed files of the default storage"

# The tier above reuses the image. A build writes too: a small one through the same storage
# (import, buildah bud FROM scratch and FROM an image, rmi) must not touch the default storage
# either. podman 4.3 and buildah 1.28 do write containers/image's shared blob-info cache
# (/var/lib/containers/cache, a digest cache, no image) whatever --root says: that one file is
# reported, not counted (docs/shipping.md).
export ECHOD_CONTAINERS_DIR="${ECHOD_CONTAINERS_DIR:-$ECHOD_BUILD_DIR/containers}"
source "$ECHOD_SOURCE_DIR/scripts/container-storage.sh"
containers_storage_init
mkdir -p "$TMP/ctx/files"; echo "built beside the user's storage" >"$TMP/ctx/files/proof.txt"
printf 'FROM scratch\nCOPY files/ /\n' >"$TMP/ctx/Dockerfile.one"
printf 'FROM localhost/echod-isolation-one:1\nLABEL io.echod.test=isolation\n' >"$TMP/ctx/Dockerfile.two"
tag="isolation$$"
tar -C "$TMP/ctx/files" -c . | pm import - "localhost/echod-isolation-import:$tag" >/dev/null
bh bud --pull=never --isolation chroot -q -f "$TMP/ctx/Dockerfile.one" -t localhost/echod-isolation-one:1 "$TMP/ctx" >/dev/null
bh bud --pull=never --isolation chroot -q -f "$TMP/ctx/Dockerfile.two" -t "localhost/echod-isolation-two:$tag" "$TMP/ctx" >/dev/null
[ "$(pm run --rm --network none --entrypoint /bin/none "localhost/echod-isolation-two:$tag" 2>&1 | grep -c 'no such file')" -ge 1 ] \
  || die "the image built beside the user's storage did not run as expected"
pm image inspect --format '{{index .Labels "io.echod.test"}}' "localhost/echod-isolation-two:$tag" | grep -qx isolation \
  || die "the small build did not land in our storage"
pm rmi "localhost/echod-isolation-import:$tag" "localhost/echod-isolation-two:$tag" localhost/echod-isolation-one:1 >/dev/null
tree >"$TMP/tree-built.txt"
grep -v ' /var/lib/containers/cache' "$TMP/tree-before.txt" >"$TMP/tree-before-nocache.txt"
grep -v ' /var/lib/containers/cache' "$TMP/tree-built.txt" >"$TMP/tree-built-nocache.txt"
diff "$TMP/tree-before-nocache.txt" "$TMP/tree-built-nocache.txt" >&2 || die "a build in our storage changed files of the default storage"
if cmp -s "$TMP/tree-before.txt" "$TMP/tree-built.txt"; then
  log "a small build (import, 2 x buildah bud, rmi) in our storage: default storage untouched"
else
  log "a small build in our storage: default storage untouched; the shared blob-info cache was written: $(diff "$TMP/tree-before.txt" "$TMP/tree-built.txt" | grep '^>' | cut -d' ' -f3 | tr '\n' ' ')"
fi

# --- untouched --------------------------------------------------------------------------------
snapshot >"$TMP/podman-after.txt"
diff "$TMP/podman-before.txt" "$TMP/podman-after.txt" >&2 || die "the user's images or containers changed"
log "default storage untouched by the tier: $(wc -l <"$TMP/tree-before.txt") paths identical (type, size, mtime); images and containers:"
sed 's/^/     /' "$TMP/podman-after.txt" >&2
echo "storage isolation: ok"
