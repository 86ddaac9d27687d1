#!/usr/bin/env bash
# Make sure a Docker engine answers: install docker.io and start dockerd in the background if needed.
set -euo pipefail

timeout_s="${MAILHOPS_DOCKER_TIMEOUT:-90}"

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }
say_it_answers() { echo "ensure-docker: engine answers ($(docker version --format '{{.Server.Version}}'))"; }
past_deadline() { [ "$(date +%s)" -ge "$deadline" ]; }

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

deadline=$(( $(date +%s) + timeout_s ))
log="${MAILHOPS_DOCKERD_LOG:-/var/log/mailhops-dockerd.log}"

# A dockerd that runs but does not answer is starting or stopping: wait until it answers or is gone (a second
# one started beside a stopping one fails on its pid file).
if pgrep -x dockerd >/dev/null 2>&1; then
    echo "ensure-docker: a dockerd runs but does not answer yet; waiting for it to answer or stop"
    while pgrep -x dockerd >/dev/null 2>&1 && ! engine_answers; do
        if past_deadline; then
            echo "ensure-docker: the running dockerd neither answered nor stopped within ${timeout_s}s" >&2
            exit 1
        fi
        sleep 1
    done
    if engine_answers; then
        say_it_answers
        exit 0
    fi
fi

echo "ensure-docker: starting dockerd (log: $log)"
as_root sh -c "nohup dockerd >'$log' 2>&1 &"

until engine_answers; do
    if past_deadline; then
        echo "ensure-docker: the Docker engine did not answer within ${timeout_s}s; last lines of $log:" >&2
        as_root tail -n 20 "$log" >&2 || true
        exit 1
    fi
    sleep 1
done
say_it_answers
