#!/usr/bin/env bash
# Builds the echod container image from the Dockerfile.
# Usage: scripts/build-image.sh [IMAGE] [CACHE_DIR]   (defaults: echod:dev, build/cache)
#   - a Docker engine that answers `docker info`: docker build (the engine's own storage).
#   - else buildah (vfs, chroot isolation) as ../shared/PLATFORM.md shows, in container
#     storage of the project's own (scripts/container-storage.sh: ECHOD_CONTAINERS_DIR,
#     default build/containers), never the machine's default storage. There is no registry
#     to pull debian:bookworm-slim from, so it is made locally once with debootstrap
#     --variant=minbase and `podman import` (rootfs tarball cached in CACHE_DIR; skipped
#     when the image is already in our storage).
# Env: REVISION (default: git short hash), STORAGE_DRIVER (default vfs),
#      BUILDER=auto|docker|buildah (default auto),
#      REUSE=1: keep an existing IMAGE built from the same build context (content hash of
#      the Dockerfile and the copied folders) instead of rebuilding it (buildah only),
#      EXPORT=FILE: also write the image as an OCI archive (`podman load -i FILE`,
#      `skopeo copy oci-archive:FILE docker://...`) (buildah only).
set -euo pipefail
cd "$(dirname "$0")/.."

img="${1:-echod:dev}"
cache="${2:-build/cache}"
base="docker.io/library/debian:bookworm-slim"
revision="${REVISION:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}"
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
builder="${BUILDER:-auto}"
# What the Dockerfile copies: a change to any of it means a new image.
context_hash="$(find Dockerfile .dockerignore CMakeLists.txt cmake common service client -type f \
  ! -name '*.swp' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
build_args=(--build-arg "REVISION=$revision" --build-arg "CREATED=$created"
  --build-arg "CONTEXT_HASH=$context_hash")

if [ "$builder" = docker ] || { [ "$builder" = auto ] && command -v docker >/dev/null && docker info >/dev/null 2>&1; }; then
  echo ">> docker build -t $img" >&2
  exec docker build "${build_args[@]}" -t "$img" .
fi

# shellcheck source=container-storage.sh
source scripts/container-storage.sh
containers_storage_init
for tool in buildah podman; do
  command -v "$tool" >/dev/null || { echo "build-image.sh: $tool missing (scripts/deps.sh e2e)" >&2; exit 1; }
done

if ! pm image exists "$base"; then
  mkdir -p "$cache"
  tarball="$cache/debian-bookworm-minbase-v2.tar"
  # A cached rootfs whose / is not world-readable (an older version of this script) is remade.
  if [ -s "$tarball" ] && ! tar -tvf "$tarball" ./ 2>/dev/null | head -n 1 | grep -q '^drwxr-xr-x'; then
    rm -f "$tarball"
  fi
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { echo "build-image.sh: debootstrap missing" >&2; exit 1; }
    rootfs="$(mktemp -d)"
    chmod 0755 "$rootfs"  # it becomes the image's /: mktemp's 0700 would lock out non-root users
    trap 'rm -rf "$rootfs"' EXIT
    echo ">> debootstrap --variant=minbase bookworm (base image $base)" >&2
    debootstrap --variant=minbase bookworm "$rootfs" >"$cache/debootstrap.log" 2>&1 \
      || { tail -n 20 "$cache/debootstrap.log" >&2; exit 1; }
    # Slim it like the official -slim image: no apt lists, caches, docs or man pages.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
      "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
    tar -C "$rootfs" -cf "$tarball.tmp" .
    mv -f "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
    trap - EXIT
  fi
  echo ">> podman import $tarball as $base" >&2
  pm import --change 'CMD ["bash"]' "$tarball" "$base" >/dev/null
fi

if [ "${REUSE:-0}" = 1 ] && [ "$(pm image inspect \
    --format '{{index .Labels "io.echod.context-hash"}}' "$img" 2>/dev/null)" = "$context_hash" ]; then
  echo ">> $img is up to date (build context $context_hash): not rebuilt" >&2
  exit 0
fi
echo ">> buildah bud -t $img (storage $CS_DRIVER in $ECHOD_CONTAINERS_DIR)" >&2
# No --layers: with the vfs driver every cached step is a full copy of the root filesystem
# (gigabytes per build). The previous image, untagged by this build, is removed after it;
# pruning only ever touches our own storage.
bh bud --pull=never --isolation chroot "${build_args[@]}" -t "$img" .
pm image prune -f --filter label=org.opencontainers.image.title=echod >/dev/null || true
pm image prune -f --filter label=io.echod.stage=build >/dev/null || true
if [ -n "${EXPORT:-}" ]; then
  pm save --format oci-archive -o "$EXPORT" "$img" >/dev/null
  echo ">> wrote $EXPORT (OCI archive of $img)" >&2
fi
echo ">> $img is in $ECHOD_CONTAINERS_DIR; use it with: podman ${CS_FLAGS[*]} ..." >&2
