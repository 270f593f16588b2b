#!/usr/bin/env bash
# Runs every test of Haetae, as CI does: vet and staticcheck, the whole suite with the race detector,
# then each fuzz target briefly. It installs what the tests need and a fresh Debian machine lacks (Chromium,
# from Debian's packages) and checks what it cannot install (a Docker daemon for the container drills).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-5s}

step() { printf '\n== %s\n' "$*"; }

command -v go >/dev/null || { echo "test.sh: Go is required (https://go.dev/doc/install)"; exit 1; }

step "test dependencies"
# The browser tests drive headless Chromium, from Debian's packages; they fail (not skip) in CI without it.
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing Chromium from Debian's packages (for the browser tests)"
    sudo=""; [ "$(id -u)" != 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  else
    echo "test.sh: Chromium is missing and there is no apt-get to install it; install chromium and retry"
    [ -n "${CI:-}" ] && exit 1
  fi
fi
command -v chromium >/dev/null 2>&1 && chromium --version 2>/dev/null | head -1 || true
# The container drills (internal/dctest, e2e/drill) need a Docker daemon that answers; no image is pulled,
# they build their own FROM scratch. Start the daemon if it is installed but not running; without it the
# drills fail (not skip) in CI.
if ! docker info >/dev/null 2>&1 && command -v dockerd >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "starting the Docker daemon (for the container drills)"
  (dockerd >/tmp/haetae-test-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
fi
if docker info >/dev/null 2>&1; then
  echo "Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
elif [ -n "${CI:-}" ]; then
  echo "test.sh: CI is set but Docker is not usable (no docker command, or its daemon does not answer), so the container drills cannot run; install Docker Engine (Debian: docker.io) and start it"
  exit 1
else
  echo "test.sh: Docker is not usable here: the container drills will be skipped (with CI set this fails)"
fi

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
