#!/usr/bin/env bash
# Measures gift redemptions with all three data centers: three `haetae serve` processes on this
# machine, one per DC (dc1..dc3), clustered over loopback routes, every stream R3; then
# `haetae bench gifts` against the three API URLs. Extra arguments go to the bench
# (e.g. -c 48 -n 3000 --contend 3). Everything is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(mktemp -d)/haetae
go build -o "$bin" ./cmd/haetae
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work" "$(dirname "$bin")"
}
trap cleanup EXIT

export HAETAE_CLUSTER_SECRET=bench-cluster-secret-0123456789
export HAETAE_ADMIN_TOKEN=bench-admin-token-0123456789
routes=(127.0.0.1:16221 127.0.0.1:16222 127.0.0.1:16223)
apis=(127.0.0.1:18081 127.0.0.1:18082 127.0.0.1:18083)
for i in 0 1 2; do
  peers=$(IFS=,; echo "${routes[*]}")
  "$bin" serve --data "$work/dc$((i+1))" --listen "${apis[$i]}" --dc "dc$((i+1))" \
    --cluster-listen "${routes[$i]}" --peers "$peers" --redeem-rate 100000 --log-level warn \
    >"$work/dc$((i+1)).log" 2>&1 &
  pids+=($!)
done
for a in "${apis[@]}"; do
  for _ in $(seq 1 600); do
    curl -sf "http://$a/readyz" >/dev/null && break
    sleep 0.2
  done
  curl -sf "http://$a/readyz" >/dev/null || { echo "node $a never became ready"; tail -20 "$work"/dc*.log; exit 1; }
done
urls="http://${apis[0]},http://${apis[1]},http://${apis[2]}"
"$bin" bench gifts --server "$urls" --admin-token "$HAETAE_ADMIN_TOKEN" "$@"
