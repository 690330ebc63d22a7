#!/usr/bin/env bash
# CPU that a million-entity start costs until its indexes are ready: starts
# `understudy serve --api API --count N`, waits (bounded) for the log line `indexes ready in N ms`,
# then prints the server's log lines about columns and orders, and the process's user + system CPU
# seconds at that moment (from /proc/PID/stat) with its RSS. Not part of `cargo test`.
#
#   bash bench/warmup-cpu.sh [BINARY] [API] [COUNT]     # defaults: target/release/understudy letta 1000000
set -euo pipefail
bin=${1:-target/release/understudy}
api=${2:-letta}
count=${3:-1000000}
log=$(mktemp)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RUST_LOG=info,understudy::data=debug "$bin" serve --api "$api" --count "$count" --port "$port" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 1200); do # at most 120 s
    grep -q "indexes ready" "$log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
done
grep -q "indexes ready" "$log" || { echo "no 'indexes ready' within 120 s" >&2; exit 1; }
ticks=$(getconf CLK_TCK)
cpu=$(awk -v t="$ticks" '{printf "%.2f", ($14 + $15) / t}' "/proc/$pid/stat")
rss=$(awk '/^VmRSS/ {print $2 " " $3}' "/proc/$pid/status")
grep -o "scan of.*\|ready in.*\|[a-z_-]*/[a-z_-]*: [0-9]* columns.*\|indexes ready.*" "$log" | cut -c1-200
echo "cpu (user + system) at 'indexes ready': ${cpu} s; VmRSS ${rss}"
