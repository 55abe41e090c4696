#!/usr/bin/env bash
# make deploy-check: the chart, the compose file and the Dockerfile, validated offline.
#   helm lint --strict; helm template (each values file in infra/helm/ci/) through
#   kubernetes-validate --strict for Kubernetes 1.33; the KEDA ScaledObject against the
#   project's schema of the fields it uses; docker-compose.yml against the compose spec;
#   hadolint at error level; the chart's invariants (tests/infra/test_helm.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
KUBE=${KUBE:-1.33.0}
CHART=infra/helm/callscribe

bash infra/helm/tools.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for values in infra/helm/ci/*.yaml; do
  name=$(basename "$values" .yaml)
  .tools/helm lint --strict --quiet "$CHART" -f "$values" --kube-version "$KUBE"
  .tools/helm template check "$CHART" -f "$values" --kube-version "$KUBE" > "$work/$name.yaml"
  "$VENV/bin/kubernetes-validate" --strict --quiet -k "$KUBE" "$work/$name.yaml"
  "$VENV/bin/python" - "$work/$name.yaml" "$work/$name-keda" <<'PY'
import json, sys, pathlib, yaml
out = pathlib.Path(sys.argv[2]); out.mkdir()
for i, doc in enumerate(d for d in yaml.safe_load_all(open(sys.argv[1])) if d):
    if doc["kind"] == "ScaledObject":
        (out / f"{i}.json").write_text(json.dumps(doc))
PY
  if compgen -G "$work/$name-keda/*.json" > /dev/null; then
    "$VENV/bin/check-jsonschema" -q --schemafile infra/helm/schemas/keda-scaledobject.json "$work/$name-keda"/*.json
  fi
  echo "deploy-check: $name values: lint, Kubernetes $KUBE schemas, KEDA fields ok"
done
"$VENV/bin/check-jsonschema" -q --builtin-schema vendor.compose-spec docker-compose.yml
"$VENV/bin/hadolint" --failure-threshold error infra/docker/Dockerfile
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/infra
echo "deploy-check: ok"
