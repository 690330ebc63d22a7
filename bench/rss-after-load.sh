#!/usr/bin/env bash
# Resident memory of a default-size server at start and after load: starts `understudy serve`
# (extra flags passed on, e.g. --journal-bytes N or --journal-size 0), prints VmRSS, RssAnon and
# RssFile, runs `wrk -t1 -c32 -d4s` on the three throughput endpoints of bench/run.py (Everruns
# detail, Vectara page of 10, Letta page of 50), and prints them again. Needs wrk and curl.
#
#   bash bench/rss-after-load.sh [BINARY] [FLAGS...]     # default binary: target/release/understudy
set -euo pipefail
bin=${1:-target/release/understudy}
shift || true
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --port "$port" "$@" >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -sf -o /dev/null "$base/" && break; sleep 0.1; done
mem() { awk '/^(VmRSS|RssAnon|RssFile)/ {printf "%s %s kB  ", $1, $2} END {print ""}' "/proc/$pid/status"; }
echo "start: $(mem)"
id=$(curl -sf -H "Authorization: Bearer t" "$base/everruns/v1/agents" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["data"][0]["id"])')
wrk -t1 -c32 -d4s -H "Authorization: Bearer t" "$base/everruns/v1/agents/$id" >/dev/null
wrk -t1 -c32 -d4s -H "x-api-key: k" "$base/vectara/v2/agents?limit=10" >/dev/null
wrk -t1 -c32 -d4s -H "Authorization: Bearer t" "$base/letta/v1/agents/?limit=50" >/dev/null
echo "after: $(mem)"
