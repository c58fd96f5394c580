#!/usr/bin/env bash
# Installs the helm command that the chart's tests (deploy/helm) run, from the
# Go module proxy alone, into $BIN, by default
# ${XDG_CACHE_HOME:-$HOME/.cache}/hoist/helm/$HELM_VERSION, where those tests
# look for it. Helm is built in its own module, so its dependencies stay out of
# Hoist's go.mod.
# Idempotent: does nothing when $BIN/helm already reports $HELM_VERSION. The
# first build takes about 3 minutes on 2 cores with empty Go caches.
set -euo pipefail
export GOWORK=off CGO_ENABLED=0
HELM_VERSION=${HELM_VERSION:-v3.22.0}
BIN=${BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/hoist/helm/$HELM_VERSION}
if [ -x "$BIN/helm" ] && [ "$("$BIN/helm" version --template '{{.Version}}')" = "$HELM_VERSION" ]; then
  echo "up to date: $BIN/helm"
  exit 0
fi
mkdir -p "$BIN"
GOBIN="$BIN" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
"$BIN/helm" version --short
