#!/usr/bin/env bash
# Stops what up.sh started, by the PIDs it wrote, in reverse order, and removes its
# state directory (KEEP=1 keeps it, logs included).
RUN=${RUN:-${TMPDIR:-/tmp}/hoist-k8s}
for c in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  f="$RUN/$c.pid"; [ -f "$f" ] || continue
  p=$(cat "$f"); kill "$p" 2>/dev/null && while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
  rm -f "$f"
done
[ "${KEEP:-0}" = 1 ] || rm -rf "$RUN"
