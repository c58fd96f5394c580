#!/usr/bin/env bash
# Starts a Kubernetes control plane on loopback for trying Hoist by hand: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler and kwok with one fake node
# (pods on it run as internal/kubelocal/kwok-stages.yaml says). Prints the kubeconfig to use;
# down.sh stops it. Tests and `hoist demo` do not need this: they start their own (internal/kubelocal).
# env: BIN    binaries (default: where build-k8s-bins.sh puts them)
#      RUN    state directory: logs, pids, kubeconfig (default ${TMPDIR:-/tmp}/hoist-k8s)
#      PORT, ETCD_PORT  apiserver and etcd client ports (16443, 12379; etcd peers use ETCD_PORT+1)
#      STACK=0 for etcd and the apiserver alone
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=${K8S_VERSION:-1.34.12}
BIN=${BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/hoist/k8s-bin/$K8S_VERSION}
[ -x "$BIN/kube-apiserver" ] || { echo "no control plane in $BIN: run make k8s-bins first" >&2; exit 1; }
ETCD=${ETCD:-$BIN/etcd}
RUN=${RUN:-${TMPDIR:-/tmp}/hoist-k8s}
PORT=${PORT:-16443}
ETCD_PORT=${ETCD_PORT:-12379}
if [ -f "$RUN/kube-apiserver.pid" ] && kill -0 "$(cat "$RUN/kube-apiserver.pid")" 2>/dev/null; then
  echo "a control plane already runs from $RUN: run down.sh first, or set RUN and the ports" >&2; exit 1
fi
mkdir -p "$RUN"
ts() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b-a)/1e9}'; }
T0=$(ts)

# --- etcd
ETCD_EXTRA=""
"$ETCD" --help 2>&1 | grep -q -- '--unsafe-no-fsync' && ETCD_EXTRA="--unsafe-no-fsync"
"$ETCD" --name local --data-dir "$RUN/etcd-data" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT+1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT+1))" \
  --initial-cluster "local=http://127.0.0.1:$((ETCD_PORT+1))" $ETCD_EXTRA >"$RUN/etcd.log" 2>&1 &
echo $! >"$RUN/etcd.pid"
until curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null; do
  kill -0 "$(cat "$RUN/etcd.pid")" 2>/dev/null || { echo "etcd died"; tail -20 "$RUN/etcd.log"; exit 1; }
  sleep 0.1
done
T1=$(ts)

# --- credentials
[ -f "$RUN/sa.key" ] || { openssl genrsa -out "$RUN/sa.key" 2048 2>/dev/null; openssl rsa -in "$RUN/sa.key" -pubout -out "$RUN/sa.pub" 2>/dev/null; }
TOKEN=${TOKEN:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}
echo "$TOKEN,admin,admin,system:masters" >"$RUN/tokens.csv"

# --- kube-apiserver
"$BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$PORT" --cert-dir="$RUN/pki" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$RUN/sa.pub" --service-account-signing-key-file="$RUN/sa.key" \
  --token-auth-file="$RUN/tokens.csv" --authorization-mode=RBAC \
  --allow-privileged=true --enable-priority-and-fairness=false --endpoint-reconciler-type=none \
  >"$RUN/kube-apiserver.log" 2>&1 &
echo $! >"$RUN/kube-apiserver.pid"

cat >"$RUN/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$PORT
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
KC
until curl -skf -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$PORT/readyz" >/dev/null; do
  kill -0 "$(cat "$RUN/kube-apiserver.pid")" 2>/dev/null || { echo "apiserver died"; tail -20 "$RUN/kube-apiserver.log"; exit 1; }
  sleep 0.2
done
T2=$(ts)
echo "etcd ready after $(secs $T0 $T1)s; apiserver ready after $(secs $T1 $T2)s"

if [ "${STACK:-1}" = 1 ]; then
  "$BIN/kube-controller-manager" --kubeconfig="$RUN/kubeconfig" --leader-elect=false --secure-port=0 \
    --controllers=deployment-controller,replicaset-controller,namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,node-lifecycle-controller \
    --service-account-private-key-file="$RUN/sa.key" --root-ca-file="$RUN/pki/apiserver.crt" \
    >"$RUN/kube-controller-manager.log" 2>&1 &
  echo $! >"$RUN/kube-controller-manager.pid"
  "$BIN/kube-scheduler" --kubeconfig="$RUN/kubeconfig" --leader-elect=false --secure-port=0 \
    >"$RUN/kube-scheduler.log" 2>&1 &
  echo $! >"$RUN/kube-scheduler.pid"
  "$BIN/kwok" --kubeconfig="$RUN/kubeconfig" --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=10.0.0.1 --cidr=10.0.0.1/24 --config="$HERE/../../internal/kubelocal/kwok-stages.yaml" \
    --node-lease-duration-seconds=40 >"$RUN/kwok.log" 2>&1 &
  echo $! >"$RUN/kwok.pid"
  # One fake node that kwok keeps Ready (plain REST call: no kubectl needed). Without
  # --node-lease-duration-seconds kwok hardly updates it, and the node-lifecycle-controller
  # marks it NotReady, pods included, for 5 s every 55 s.
  curl -skf -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/yaml' \
    "https://127.0.0.1:$PORT/api/v1/nodes" --data-binary @- <<'NODE'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-0}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
NODE
  T3=$(ts)
  echo "controller-manager/scheduler/kwok started + node created after $(secs $T2 $T3)s"
fi
echo "export KUBECONFIG=$RUN/kubeconfig"
