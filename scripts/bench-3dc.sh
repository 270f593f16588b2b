#!/usr/bin/env bash
# Measures Haetae's send rate with three data centers against one node, side by side in one run, on
# this machine's Docker Engine: the compose demo's three DC containers (deploy/compose.yaml, every
# stream R3, fsync always), and one container of the same image alone (R1, fsync always). Then
# `haetae bench` against each, the three-DC run with the raw JetStream references, R3 included, as the
# ceiling. Extra arguments go to both benches (e.g. -c 256 -n 40000). Everything it starts is removed
# afterwards. docs/benchmarks.md records what it printed.
set -euo pipefail
cd "$(dirname "$0")/.."

compose=(docker-compose)
docker-compose version >/dev/null 2>&1 || compose=(docker compose)
project="haetae-bench-$$"
single="$project-single"
bin=$(mktemp -d)/haetae

cleanup() {
  docker rm -f "$single" >/dev/null 2>&1 || true
  "${compose[@]}" -p "$project" -f deploy/compose.yaml down -v >/dev/null 2>&1 || true
  rm -f deploy/haetae
  rm -rf "$(dirname "$bin")"
}
trap cleanup EXIT

echo "== building the binary and the image"
CGO_ENABLED=0 go build -o deploy/haetae ./cmd/haetae
go build -o "$bin" ./cmd/haetae
"${compose[@]}" -p "$project" -f deploy/compose.yaml build -q
"${compose[@]}" -p "$project" -f deploy/compose.yaml up -d
docker run -d --name "$single" -p 127.0.0.1:8090:8080 haetae:demo serve --listen 0.0.0.0:8080 --data /data >/dev/null

wait_ready() {
  for _ in $(seq 1 600); do
    curl -sf "$1/readyz" >/dev/null && return 0
    sleep 0.2
  done
  echo "$1 never became ready"
  exit 1
}
for u in http://127.0.0.1:8081 http://127.0.0.1:8082 http://127.0.0.1:8083 http://127.0.0.1:8090; do wait_ready "$u"; done
# Stream leaders are spread over the DCs once a node has had a majority for 10 s: wait until each DC
# leads one message stream (haetae_stream_leader in /metrics).
for _ in $(seq 1 300); do
  spread=1
  for port in 8081 8082 8083; do
    n=$(curl -sf "http://127.0.0.1:$port/metrics" | grep -c '^haetae_stream_leader{stream="HAETAE_MSGS_[0-9]*"} 1' || true)
    [ "$n" = 1 ] || spread=0
  done
  [ "$spread" = 1 ] && break
  sleep 0.2
done
[ "$spread" = 1 ] || echo "warning: the message stream leaders are not spread one per DC"

echo
echo "== one node (a container of the same image, R1)"
"$bin" bench --server http://127.0.0.1:8090 --refs=false "$@"
echo
echo "== three data centers (three containers, R3, clients spread over the three)"
"$bin" bench --server http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083 "$@"
