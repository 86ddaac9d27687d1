#!/usr/bin/env bash
# Make sure a Docker engine answers: install docker.io and start dockerd in the background if needed.
set -euo pipefail

timeout_s="${MAILHOPS_DOCKER_TIMEOUT:-90}"

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

if engine_answers; then
    echo "ensure-docker: engine already answers"
    exit 0
fi

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    echo "ensure-docker: installing docker.io"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

log="${MAILHOPS_DOCKERD_LOG:-/var/log/mailhops-dockerd.log}"
echo "ensure-docker: starting dockerd (log: $log)"
as_root sh -c "nohup dockerd >'$log' 2>&1 &"

deadline=$(( $(date +%s) + timeout_s ))
until engine_answers; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "ensure-docker: the Docker engine did not answer within ${timeout_s}s; last lines of $log:" >&2
        as_root tail -n 20 "$log" >&2 || true
        exit 1
    fi
    sleep 1
done
echo "ensure-docker: engine answers ($(docker version --format '{{.Server.Version}}'))"
