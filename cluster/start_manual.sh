#!/bin/bash
# The manual recipe: turn any machines that can reach each other into a Ray cluster.
#
#   cluster/start_manual.sh head                 # on the head machine; prints its address
#   cluster/start_manual.sh worker HEAD_IP:6379  # on every other machine
#   cluster/start_manual.sh status HEAD_IP:6379  # anywhere in the cluster
#   cluster/start_manual.sh stop                 # on every machine, when done
#
# RAY_PORT (default 6379) is the head's port and RAY_TEMP_DIR (default /tmp/ray-$USER)
# the node's own folder for Ray's files and logs. "stop" stops the processes of that
# folder only (cluster/labs/stop_cluster.py), never `ray stop`, which would also stop
# every other Ray of this user on the machine (another cluster, a notebook's Ray).
#
# All machines need the same Python, Ray and gradkit versions (same venv recipe) and
# open ports between them (6379, and Ray's worker ports; see the lab guide).
#
# Token authentication (Ray >= 2.52): every machine and every shell that talks to the
# cluster needs RAY_AUTH_MODE=token and the same token in ~/.ray/auth_token (the head
# creates it; copy it to the workers, or share the home directory). RAY_AUTH_MODE=disabled
# turns it off, for a trusted private network only.
set -euo pipefail
port=${RAY_PORT:-6379}
temp_dir=${RAY_TEMP_DIR:-/tmp/ray-$(id -un)}
here=$(cd "$(dirname "$0")" && pwd)
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-token}
token_file=${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}
case "${1:-}" in
    head)
        if [ "$RAY_AUTH_MODE" = token ]; then
            ray get-auth-token --generate >/dev/null  # creates $token_file once
            echo "Copy $token_file to every worker machine (same path) before it joins."
        fi
        ray start --head --port="$port" --include-dashboard=false --temp-dir="$temp_dir"
        echo "Workers join with: $0 worker $(hostname -I | awk '{print $1}'):$port"
        echo "Shells that use the cluster: export RAY_AUTH_MODE=$RAY_AUTH_MODE"
        ;;
    worker)
        address=${2:?usage: $0 worker HEAD_IP:PORT}
        if [ "$RAY_AUTH_MODE" = token ] && [ -z "${RAY_AUTH_TOKEN:-}" ] && [ ! -s "$token_file" ]; then
            echo "no token at $token_file: copy the head's ~/.ray/auth_token here first" >&2
            exit 2
        fi
        ray start --address="$address" --temp-dir="$temp_dir"
        ;;
    status)
        ray status --address="${2:?usage: $0 status HEAD_IP:PORT}"
        ;;
    stop)
        python "$here/labs/stop_cluster.py" --temp-dir "$temp_dir"
        ;;
    *)
        echo "usage: $0 head | worker HEAD_IP:PORT | status HEAD_IP:PORT | stop" >&2
        exit 2
        ;;
esac
