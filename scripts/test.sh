#!/usr/bin/env bash
# Runs every test of Haetae, as CI does: vet and staticcheck, the whole suite with the race detector,
# then each fuzz target briefly. It installs nothing today beyond Go modules; tests that need Docker or Chromium will
# install or check them here.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-5s}

step() { printf '\n== %s\n' "$*"; }

command -v go >/dev/null || { echo "test.sh: Go is required (https://go.dev/doc/install)"; exit 1; }

step "go vet"
go vet ./...

step "staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

step "go test -race"
go test -race -count=1 -timeout 20m ./...

step "fuzz the request decoders (${FUZZTIME} each)"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- $pkg $target"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
  done
done

step "all tests passed"
