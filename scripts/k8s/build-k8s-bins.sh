#!/usr/bin/env bash
# Builds the Kubernetes control plane that Hoist's tests run against, from the
# Go module proxy alone (no GitHub, GCS or Docker):
#   kube-apiserver, kube-controller-manager, kube-scheduler  k8s.io/kubernetes @ v$K8S_VERSION
#   etcd   go.etcd.io/etcd/server/v3/etcdmain @ the version k8s.io/kubernetes' go.mod pins
#   kwok   sigs.k8s.io/kwok/cmd/kwok @ $KWOK_VERSION (fake nodes and kubelets)
#   kubectl only with WITH_KUBECTL=1 (the tests use client-go)
# into $BIN, by default ${XDG_CACHE_HOME:-$HOME/.cache}/hoist/k8s-bin/$K8S_VERSION, where
# internal/kubelocal looks for them (for the tests and `hoist demo`). The binaries stay out of
# Hoist's go.mod: they are built in a throw-away module that maps kubernetes' staging modules
# to their published versions.
# Idempotent: does nothing when $BIN/.stamp says the same versions were built. The first
# build takes about 6 minutes on 2 cores (~1.5 GB RAM); a rebuild with warm Go caches ~30 s.
set -euo pipefail
export GOWORK=off GOFLAGS="${GOFLAGS:-} -mod=mod"
K8S_VERSION=${K8S_VERSION:-1.34.12}         # k8s.io/kubernetes v$K8S_VERSION, staging modules v0.${K8S_VERSION#1.}
KWOK_VERSION=${KWOK_VERSION:-v0.7.0}
BIN=${BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/hoist/k8s-bin/$K8S_VERSION}
STAMP="k8s=$K8S_VERSION kwok=$KWOK_VERSION go=$(go env GOVERSION)"
if [ -f "$BIN/.stamp" ] && [ "$(cat "$BIN/.stamp")" = "$STAMP" ]; then echo "up to date: $BIN"; exit 0; fi
if [ -z "${WORK:-}" ]; then WORK=$(mktemp -d /tmp/k8s-build.XXXXXX); trap 'rm -rf "$WORK"' EXIT; fi
SV=0.${K8S_VERSION#1.}
MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
mkdir -p "$BIN" "$WORK/cmd/etcd"
cd "$WORK"

# Staging modules = every k8s.io/* "=> ./staging/..." replace in k8s.io/kubernetes' own go.mod.
MODFILE=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
STAGING=$(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$MODFILE")
{
  echo "module local/k8sbins"; echo; echo "go $(sed -n 's/^go //p' "$MODFILE")"
  grep '^godebug' "$MODFILE" || true
  echo; echo "require k8s.io/kubernetes v$K8S_VERSION"; echo; echo "replace ("
  for m in $STAGING; do echo "	$m => $m v$SV"; done
  echo ")"
} > go.mod
ETCD_VERSION=$(sed -n 's#^\s*go.etcd.io/etcd/client/v3 \(v[^ ]*\).*#\1#p' "$MODFILE")
cat > cmd/etcd/main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
CMDS="kube-apiserver kube-controller-manager kube-scheduler"
[ "${WITH_KUBECTL:-0}" = 1 ] && CMDS="$CMDS kubectl"
PKGS=""
for c in $CMDS; do PKGS="$PKGS k8s.io/kubernetes/cmd/$c"; done
# shellcheck disable=SC2086 # word splitting wanted
go get $(for p in $PKGS; do echo "$p@v$K8S_VERSION"; done) \
       "go.etcd.io/etcd/server/v3/etcdmain@$ETCD_VERSION" 2>&1 | grep -v '^go: \(added\|upgraded\|downloading\)' || true

LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LD="$LD -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean"
done
export CGO_ENABLED=0
# kwok is its own module (own client-go version); build it alongside.
( GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" ) &
KWOK_PID=$!
# shellcheck disable=SC2086
go build -trimpath -ldflags "$LD" -o "$BIN/" $PKGS ./cmd/etcd
wait "$KWOK_PID"
echo "$STAMP" > "$BIN/.stamp"
ls -la "$BIN"
