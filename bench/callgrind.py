#!/usr/bin/env python3
"""User-space instructions per request, counted by callgrind: a figure that, unlike req/s on a
shared 2-core machine, does not move from one run to the next (bench/README.md).

    python3 bench/callgrind.py [--binary target/release/understudy] [--requests 2000] KIND...

KIND is read (GET an Everruns agent), create (POST /everruns/v1/agents), update (PATCH an
agent's description) or delete (DELETE an agent, which Everruns archives): the requests of
bench/writes.lua, sent one at a time on one keep-alive connection, round-robin over 8 sessions
(the write kinds). The server runs under `valgrind --tool=callgrind`; counts are zeroed after
200 unmeasured requests, dumped after the measured ones, and divided by their number. The
kernel's share of a request (the socket calls) is not counted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import subprocess
import sys
import shutil
import tempfile
import time
from pathlib import Path

BODY = '{"name":"bench-agent","system_prompt":"You answer benchmark questions.","tags":["bench"]}'
HEADERS = {"Authorization": "Bearer t", "Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drive(port: int, kind: str, n: int, start: int, ids: list[str]) -> int:
    """Send `n` requests of `kind`; returns how many were not 2xx."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    bad = 0
    for k in range(start, start + n):
        h = dict(HEADERS, **{"X-Understudy-Session": f"cg-{k % 8}-{k // 4000}"})
        if kind == "read":
            c.request("GET", f"/everruns/v1/agents/{ids[0]}", headers=HEADERS)
        elif kind == "create":
            c.request("POST", "/everruns/v1/agents", body=BODY, headers=h)
        elif kind == "update":
            c.request("PATCH", f"/everruns/v1/agents/{ids[k % len(ids)]}",
                      body='{"description":"changed"}', headers=h)
        elif kind == "delete":
            # Each session deletes each agent once: sessions change every len(ids) rounds.
            h["X-Understudy-Session"] = f"cg-{k % 8}-{k // (8 * len(ids))}"
            c.request("DELETE", f"/everruns/v1/agents/{ids[(k // 8) % len(ids)]}", headers=h)
        else:
            raise SystemExit(f"unknown kind {kind}")
        r = c.getresponse()
        r.read()
        bad += not 200 <= r.status < 300
    return bad


def measure(binary: str, kind: str, n: int, tmp: Path, keep: Path | None = None) -> int:
    port = free_port()
    out = tmp / f"callgrind.{kind}.out"
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
         binary, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                c.request("GET", "/everruns/v1/agents", headers=HEADERS)
                ids = [a["id"] for a in json.loads(c.getresponse().read())["data"]]
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not answer under valgrind")
                time.sleep(0.3)
        drive(port, kind, 200, 0, ids)
        subprocess.run(["callgrind_control", "--zero", str(server.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bad = drive(port, kind, n, 200, ids)
        subprocess.run(["callgrind_control", "--dump", str(server.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        server.terminate()
        server.wait(timeout=60)
    if bad:
        raise SystemExit(f"{kind}: {bad} answers were not 2xx")
    dumps = sorted(tmp.glob(f"callgrind.{kind}.out.*"))
    if not dumps:
        raise SystemExit("callgrind wrote no dump")
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(dumps[0], keep / f"callgrind.{kind}.out")
    total = re.search(r"^summary:\s+(\d+)", dumps[0].read_text(errors="replace"), re.M)
    if not total:
        raise SystemExit(f"no summary in {dumps[0]}")
    return int(total.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", default="target/release/understudy")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--keep", type=Path, default=None,
                    help="copy each dump into this folder (for callgrind_annotate)")
    ap.add_argument("kinds", nargs="+", choices=["read", "create", "update", "delete"])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="understudy-callgrind-") as d:
        for kind in a.kinds:
            ir = measure(a.binary, kind, a.requests, Path(d), a.keep)
            print(f"{kind}: {ir / a.requests:,.0f} instructions per request "
                  f"({ir:,} over {a.requests:,})")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
