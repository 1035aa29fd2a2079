#!/bin/bash
# The manual recipe: turn any machines that can reach each other into a Ray cluster.
#
#   cluster/start_manual.sh head                 # on the head machine; prints its address
#   cluster/start_manual.sh worker HEAD_IP:6379  # on every other machine
#   cluster/start_manual.sh status               # anywhere in the cluster
#   cluster/start_manual.sh stop                 # on every machine, when done
#
# All machines need the same Python, Ray and gradkit versions (same venv recipe) and
# open ports between them (6379, and Ray's worker ports; see the lab guide).
set -euo pipefail
port=${RAY_PORT:-6379}
case "${1:-}" in
    head)
        ray start --head --port="$port" --include-dashboard=false
        echo "Workers join with: $0 worker $(hostname -I | awk '{print $1}'):$port"
        ;;
    worker)
        address=${2:?usage: $0 worker HEAD_IP:PORT}
        ray start --address="$address"
        ;;
    status)
        ray status
        ;;
    stop)
        ray stop
        ;;
    *)
        echo "usage: $0 head | worker HEAD_IP:PORT | status | stop" >&2
        exit 2
        ;;
esac
