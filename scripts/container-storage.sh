# Container storage of the project's own, for the image build and the image/e2e tests
# (sourced, not run). Every podman and buildah call goes through pm/bh, which name the
# storage explicitly, so the machine's default storage (/var/lib/containers/storage, any
# driver, any images) is never read, listed, pruned or written, and a default storage made
# with another driver (overlay) cannot clash with ours ("database storage graph driver ...
# does not match").
#
#   ECHOD_CONTAINERS_DIR  where the storage lives (default build/containers)
#   STORAGE_DRIVER        default vfs (works on any kernel and inside containers)
#
# Layout: $ECHOD_CONTAINERS_DIR/{root,runroot,tmp}, storage.conf (the same settings, exported
# as CONTAINERS_STORAGE_CONF for tools we do not call through pm/bh) and containers.conf
# (runc, lowered default ulimits: exported as CONTAINERS_CONF; PLATFORM.md).
containers_storage_init() {
  local dir="${ECHOD_CONTAINERS_DIR:-build/containers}"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  ECHOD_CONTAINERS_DIR="$dir"
  CS_DRIVER="${STORAGE_DRIVER:-vfs}"
  mkdir -p "$dir/root" "$dir/runroot" "$dir/tmp"
  cat >"$dir/storage.conf.tmp" <<CONF
# Written by scripts/container-storage.sh: the project's own container storage.
[storage]
driver = "$CS_DRIVER"
graphroot = "$dir/root"
runroot = "$dir/runroot"
CONF
  mv -f "$dir/storage.conf.tmp" "$dir/storage.conf"
  # crun fails on this kernel's cgroup layout; raising rlimits above the host's is refused.
  cat >"$dir/containers.conf.tmp" <<CONF
# Written by scripts/container-storage.sh.
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=4096:4096"]
[engine]
runtime = "runc"
events_logger = "file"
events_logfile_path = "$dir/tmp/events.log"
CONF
  mv -f "$dir/containers.conf.tmp" "$dir/containers.conf"
  export CONTAINERS_STORAGE_CONF="$dir/storage.conf"
  export CONTAINERS_CONF="$dir/containers.conf"
  CS_FLAGS=(--root "$dir/root" --runroot "$dir/runroot" --storage-driver "$CS_DRIVER")
}
# podman and buildah on our storage only. --tmpdir keeps podman's libpod state (alive
# lock, pause process) apart from the default one in /run/libpod too.
pm() { podman "${CS_FLAGS[@]}" --tmpdir "$ECHOD_CONTAINERS_DIR/tmp" "$@"; }
bh() { buildah "${CS_FLAGS[@]}" "$@"; }
