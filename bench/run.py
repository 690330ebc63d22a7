#!/usr/bin/env python3
"""The understudy benchmark (issue 13): one command, loopback only, bounded in time.

    python3 bench/run.py [--quick] [--out FILE] [--no-build] [--only SECTION]...

Builds the release binaries (`cargo build --release --bins --examples`, skipped with
--no-build), then measures, each against its own freshly started server:

  throughput   understudy vs the bare hyper example serving the same bytes, wrk runs alternated
  start-up     spawn -> first 200 of GET /, and RSS at the default size
  documents    large real OpenAPI documents (target/fixtures/) served with no annotations:
               spawn -> first 200 of a list operation, and peak RSS (VmHWM)
  1M entities  start, first regular-expression filter, Letta's index warm-up and RSS (not --quick)
  sessions     1,000 sessions (100 with --quick) each starting a scenario, then RSS
  writes       creates, updates and deletes vs a detail read (req/s), and 1,000 sessions (100
               with --quick) each holding 100 written agents, then RSS
  soak         wrk -t2 -c256 with bench/soak.lua: errors, RSS and fds over time; paced p99 vs idle p99,
               and the same idle, saturated and paced runs against bare hyper (the reference)

It prints one Markdown table per section (with date, machine and the exact commands) and with
--out FILE writes the same Markdown to FILE. Every process it starts is stopped when it ends,
fails or is interrupted. Python 3.11 standard library only; needs `wrk` on PATH. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOAK_LUA = Path(__file__).resolve().parent / "soak.lua"
WRITES_LUA = Path(__file__).resolve().parent / "writes.lua"

BEARER = {"Authorization": "Bearer t"}
APIKEY = {"x-api-key": "k"}
SCENARIO = "failed-rollout"
MILLION = 1_000_000  # entities in the million-entity section
FIXTURES = ROOT / "target" / "fixtures"  # written by .ci/fixtures.sh, never committed
# Large real documents for the documents section: (label, file in FIXTURES, list operation polled
# until it answers 200, its headers). Issue 9's target applies to OpenAPI 3.1 documents of 2 MB+.
DOCUMENTS = [
    ("OpenAI", "openai.yml", "/assistants?limit=2", {"Authorization": "Bearer k"}),
    ("ShipEngine", "shipengine.json", "/v1/carriers", {"API-Key": "k"}),
]
DOC_REQUESTS = 50  # requests after the first 200, before VmHWM is read
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Mode:
    name: str
    wrk_seconds: int  # each measured wrk run of the throughput comparison
    warmup_seconds: int  # one unrecorded wrk run per server and endpoint first
    rounds: int  # understudy, bare, understudy, bare, ... (rounds pairs)
    startups: int  # start-up measured this many times
    sessions: int
    soak_seconds: int
    idle_seconds: int  # the -c1 run giving the idle p99
    paced_seconds: int  # the soak's paced run (half the saturated rate) whose p99 has the target
    million: bool


FULL = Mode("full", 8, 2, 3, 5, 1000, 60, 10, 20, True)
QUICK = Mode("quick", 2, 1, 3, 3, 100, 10, 3, 5, False)


# ----------------------------------------------------------------------------------------------
# processes


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it if this script dies without cleaning up."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Procs:
    """Every process the benchmark starts; stop_all() ends the ones still running."""

    def __init__(self) -> None:
        self.live: list[subprocess.Popen] = []

    def spawn(self, argv, *, stdout=None, stderr=None, env=None) -> subprocess.Popen:
        p = subprocess.Popen(
            [str(a) for a in argv],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else subprocess.DEVNULL,
            stderr=stderr if stderr is not None else subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a terminal's Ctrl-C reaches this script only, which stops it
            preexec_fn=_die_with_parent,
        )
        self.live.append(p)
        return p

    def stop(self, p: subprocess.Popen, grace: float = 15.0) -> tuple[int, float]:
        """SIGTERM, wait up to `grace` s, then SIGKILL. Returns (exit status, seconds to exit)."""
        t = time.perf_counter()
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.live:
            self.live.remove(p)
        return p.returncode, time.perf_counter() - t

    def stop_all(self) -> None:
        for p in list(self.live):
            self.stop(p, grace=5.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rel(p: Path) -> str:
    try:
        return str(Path(p).relative_to(ROOT))
    except ValueError:
        return str(p)


def show(argv) -> str:
    return shlex.join(str(a) for a in argv)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Ctx:
    def __init__(self, mode: Mode, understudy: Path, bare: Path, tmp: Path) -> None:
        self.mode = mode
        self.understudy = understudy
        self.bare = bare
        self.tmp = tmp
        self.procs = Procs()
        self.counter = 0

    def next_name(self, stem: str) -> Path:
        self.counter += 1
        return self.tmp / f"{self.counter:03d}-{stem}"


class Server:
    """One understudy process on a free loopback port, its stderr in a log file."""

    def __init__(self, ctx: Ctx, args: list[str], label: str) -> None:
        self.ctx = ctx
        self.label = label
        self.port = free_port()
        self.argv = [ctx.understudy, "serve", "--port", str(self.port), *args]
        self.cmd = show([rel(ctx.understudy), "serve", "--port", str(self.port), *args])
        self.log_path = ctx.next_name(f"{label}.log")
        env = dict(os.environ, RUST_LOG="info", NO_COLOR="1")
        self._log = open(self.log_path, "wb")
        self.t0 = time.perf_counter()
        self.proc = ctx.procs.spawn(self.argv, stderr=self._log, env=env)
        self.conn: http.client.HTTPConnection | None = None

    # -- readiness and requests

    def wait_answer(self, path="/", headers=None, want=200, timeout=60.0) -> float:
        """Polls until `path` answers (with `want`, or anything when want is None); returns the
        seconds since spawn."""
        deadline = time.perf_counter() + timeout
        while True:
            self.check_alive()
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                c.request("GET", path, headers=headers or {})
                r = c.getresponse()
                r.read()
                c.close()
                if want is None or r.status == want:
                    return time.perf_counter() - self.t0
            except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
                pass
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{self.label}: no answer on {path} within {timeout:.0f} s")
            time.sleep(0.001)

    def request(self, method, path, headers=None, body=None, timeout=120.0):
        """One request on a kept-alive connection (reopened when needed): (status, body, s)."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                t = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, data, time.perf_counter() - t
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    self.check_alive()
                    raise
        raise AssertionError("unreachable")

    def get_ok(self, path, headers=None) -> bytes:
        status, data, _ = self.request("GET", path, headers)
        if status != 200:
            raise RuntimeError(f"{self.label}: GET {path} answered {status}: {data[:300]!r}")
        return data

    # -- process state

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.label} exited with status {self.proc.returncode}; log tail:\n"
                + self.log_tail()
            )

    def status_kb(self, key: str) -> int:
        """A kB field of /proc/PID/status: VmRSS (resident now), VmHWM (peak resident)."""
        self.check_alive()
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise RuntimeError(f"no {key}")

    def rss_kb(self) -> int:
        return self.status_kb("VmRSS")

    def fds(self) -> int:
        # the same count as `ls /proc/PID/fd | wc -l`
        self.check_alive()
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def log_lines(self) -> list[str]:
        if not self._log.closed:
            self._log.flush()
        return ANSI.sub("", self.log_path.read_text(errors="replace")).splitlines()

    def log_tail(self, n=20) -> str:
        return "\n".join(self.log_lines()[-n:])

    def wait_log(self, pattern: str, timeout: float) -> tuple[re.Match, float]:
        """Polls the log for a line matching `pattern`: (match, seconds since spawn when seen)."""
        rx = re.compile(pattern)
        deadline = time.perf_counter() + timeout
        while True:
            for line in self.log_lines():
                m = rx.search(line)
                if m:
                    return m, time.perf_counter() - self.t0
            self.check_alive()
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{self.label}: no log line /{pattern}/ within {timeout:.0f} s")
            time.sleep(0.01)

    def problems(self) -> list[str]:
        return [l for l in self.log_lines() if re.search(r"\b(WARN|ERROR)\b", l)]

    def stop(self) -> tuple[int, float]:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        rc, secs = self.ctx.procs.stop(self.proc)
        self._log.close()
        return rc, secs


class Bare:
    """The bare hyper example answering every request with one file's bytes."""

    def __init__(self, ctx: Ctx, body_file: Path) -> None:
        self.port = free_port()
        self.argv = [ctx.bare, str(self.port), str(body_file)]
        self.cmd = show([rel(ctx.bare), str(self.port), "BODY_FILE"])
        self.ctx = ctx
        self.proc = ctx.procs.spawn(self.argv)
        deadline = time.perf_counter() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bare_hyper exited with status {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.perf_counter() > deadline:
                    raise TimeoutError("bare_hyper did not listen within 30 s")
                time.sleep(0.005)

    @classmethod
    def serving(cls, ctx: Ctx, body: bytes) -> "Bare":
        """bare_hyper answering every request with `body` (saved to a file of the run)."""
        body_file = ctx.next_name("body.json")
        body_file.write_bytes(body)
        return cls(ctx, body_file)

    def get(self, path, headers) -> bytes:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", path, headers=headers)
        data = c.getresponse().read()
        c.close()
        return data

    def stop(self) -> None:
        self.ctx.procs.stop(self.proc)


# ----------------------------------------------------------------------------------------------
# wrk


def to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}[unit]


@dataclass
class WrkResult:
    rps: float
    p50: float  # ms
    p99: float  # ms
    requests: int
    non2xx: int
    socket_errors: dict[str, int]
    statuses: dict[str, int] = field(default_factory=dict)  # from soak.lua
    output: str = ""

    def errors(self) -> int:
        return self.non2xx + sum(self.socket_errors.values())


def parse_wrk(out: str) -> WrkResult:
    def latency(pct: str) -> float:
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)
        if not m:
            raise ValueError(f"no {pct}% latency in wrk output:\n{out}")
        return to_ms(m.group(1), m.group(2))

    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise ValueError(f"no Requests/sec in wrk output:\n{out}")
    rps = float(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    requests = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    sock = {}
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        sock = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    statuses = {k: int(v) for k, v in re.findall(r"^non2xx (\d+) (\d+)$", out, re.M)}
    return WrkResult(rps, latency("50"), latency("99"), requests, non2xx, sock, statuses, out)


def run_wrk(ctx: Ctx, args: list[str], seconds: float, on_tick=None, tick=2.0) -> WrkResult:
    """Runs wrk (killed if it overruns by a minute); calls on_tick(elapsed) every `tick` s."""
    out_path = ctx.next_name("wrk.out")
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        p = ctx.procs.spawn(["wrk", *args], stdout=out, stderr=subprocess.STDOUT)
        next_tick = t0 + tick
        try:
            while p.poll() is None:
                now = time.perf_counter()
                if now - t0 > seconds + 60:
                    raise TimeoutError(f"wrk overran: {show(['wrk', *args])}")
                if on_tick is not None and now >= next_tick:
                    on_tick(now - t0)
                    next_tick += tick
                time.sleep(min(0.05, max(0.0, next_tick - time.perf_counter())) if on_tick else 0.05)
        finally:
            ctx.procs.stop(p, grace=2.0)
    text = out_path.read_text(errors="replace")
    if p.returncode != 0:
        raise RuntimeError(f"wrk exited with {p.returncode}: {show(['wrk', *args])}\n{text}")
    return parse_wrk(text)


def header_flags(headers: dict[str, str]) -> list[str]:
    flags = []
    for k, v in headers.items():
        flags += ["-H", f"{k}: {v}"]
    return flags


# ----------------------------------------------------------------------------------------------
# formatting


def fmt_ms(ms: float) -> str:
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 100:
        return f"{ms:.1f} ms"
    return f"{ms:,.0f} ms"


def fmt_mb(kb: float) -> str:
    return f"{kb / 1024:.1f} MiB"


def fmt_rps(x: float) -> str:
    return f"{x:,.0f}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def commands_block(cmds: list[str]) -> str:
    return "Commands (run from the repository root; ports are the ones this run used):\n\n```sh\n" + \
        "\n".join(cmds) + "\n```"


def problems_note(servers: list[Server]) -> str:
    lines = []
    for s in servers:
        p = s.problems()
        if p:
            lines.append(f"- `{s.label}` logged {len(p)} warning/error line(s), first ones:")
            lines += [f"  - `{l.strip()[:300]}`" for l in p[:5]]
    return ("Server log warnings/errors:\n\n" + "\n".join(lines)) if lines else \
        "Server logs: no warnings or errors."


# ----------------------------------------------------------------------------------------------
# sections


def first_ids(server: Server) -> dict[str, str]:
    """The first listed agent of each API (details in the throughput run and the soak)."""
    ev = json.loads(server.get_ok("/everruns/v1/agents", BEARER))["data"][0]["id"]
    vk = json.loads(server.get_ok("/vectara/v2/agents?limit=1", APIKEY))["agents"][0]["key"]
    lt = json.loads(server.get_ok("/letta/v1/agents/?limit=1", BEARER))[0]["id"]
    pc = json.loads(server.get_ok("/pipecat-cloud/v1/agents", BEARER))["services"][0]["name"]
    return {"everruns": ev, "vectara": vk, "letta": lt, "pipecat": pc}


@dataclass
class Comparison:
    label: str
    path: str
    size: int
    u: list[WrkResult]
    b: list[WrkResult]
    ratio_target: float | None
    p99_target: float | None
    note: str = ""

    def ratio(self) -> float:
        return statistics.median(r.rps for r in self.u) / statistics.median(r.rps for r in self.b)

    def p99_ratio(self) -> float:
        return statistics.median(r.p99 for r in self.u) / statistics.median(r.p99 for r in self.b)


def compare(ctx: Ctx, server: Server, label: str, path: str, headers: dict, ratio_target,
            p99_target, cmds: list[str]) -> Comparison:
    m = ctx.mode
    body = server.get_ok(path, headers)
    note = ""
    if server.get_ok(path, headers) != body:
        note = "understudy's body differs between two requests; bare serves the first"
    bare = Bare.serving(ctx, body)
    try:
        if bare.get(path, headers) != body:
            raise RuntimeError("bare_hyper does not serve the same bytes")

        def args(port: int, secs: int) -> list[str]:
            return ["-t1", "-c32", f"-d{secs}s", "--latency", *header_flags(headers),
                    f"http://127.0.0.1:{port}{path}"]

        cmds.append(f"# {label}: body {len(body):,} bytes saved from understudy as BODY_FILE")
        cmds.append(bare.cmd)
        cmds.append(show(["wrk", *args(server.port, m.wrk_seconds)]) + "   # understudy")
        cmds.append(show(["wrk", *args(bare.port, m.wrk_seconds)]) + "   # bare hyper")
        log(f"throughput: {label}: warm-up ({m.warmup_seconds} s each)")
        run_wrk(ctx, args(server.port, m.warmup_seconds), m.warmup_seconds)
        run_wrk(ctx, args(bare.port, m.warmup_seconds), m.warmup_seconds)
        u, b = [], []
        for i in range(m.rounds):
            log(f"throughput: {label}: round {i + 1}/{m.rounds} (understudy, then bare)")
            u.append(run_wrk(ctx, args(server.port, m.wrk_seconds), m.wrk_seconds))
            b.append(run_wrk(ctx, args(bare.port, m.wrk_seconds), m.wrk_seconds))
    finally:
        bare.stop()
    return Comparison(label, path, len(body), u, b, ratio_target, p99_target, note)


def section_throughput(ctx: Ctx, state: dict) -> str:
    m = ctx.mode
    cmds: list[str] = []
    rows: list[Comparison] = []
    servers = []
    state["throughput_ran"] = True
    server = Server(ctx, [], "understudy-default")
    servers.append(server)
    cmds.append(server.cmd + "   # RUST_LOG=info, stderr to a log file")
    try:
        server.wait_answer()
        ids = first_ids(server)
        endpoints = [
            ("Everruns detail", f"/everruns/v1/agents/{ids['everruns']}", BEARER, 0.85, 1.2),
            ("Vectara page of 10", "/vectara/v2/agents?limit=10", APIKEY, 0.85, 1.2),
            ("Letta page of 50", "/letta/v1/agents/?limit=50", BEARER, 0.85, 1.2),
            ("Pipecat list", "/pipecat-cloud/v1/agents", BEARER, None, None),
        ]
        for label, path, headers, rt, pt in endpoints:
            rows.append(compare(ctx, server, label, path, headers, rt, pt, cmds))
        state["rss_after_throughput_kb"] = server.rss_kb()
        state["fds_after_throughput"] = server.fds()
        state["throughput_cmd"] = server.cmd
    finally:
        server.stop()

    strict = Server(ctx, ["--strict"], "understudy-strict")
    servers.append(strict)
    cmds.append(strict.cmd + "   # RUST_LOG=info, stderr to a log file")
    try:
        strict.wait_answer()
        rows.append(compare(ctx, strict, "Vectara page of 10, --strict", "/vectara/v2/agents?limit=10",
                            APIKEY, 0.4, None, cmds))
    finally:
        strict.stop()

    out = [
        "## Throughput: understudy vs bare hyper serving the same bytes",
        "",
        f"`wrk -t1 -c32 -d{m.wrk_seconds}s --latency`, one unrecorded {m.warmup_seconds} s warm-up "
        f"per server, then {m.rounds} rounds alternating understudy and bare hyper; medians of "
        "the rounds. Ratio = understudy req/s / bare req/s; p99 ratio = understudy p99 / bare p99.",
        "",
    ]
    head = ["endpoint", "body bytes", "understudy req/s", "bare req/s", "ratio", "target",
            "understudy p50 / p99", "bare p50 / p99", "p99 ratio", "target", "errors"]
    trs = []
    for c in rows:
        med = lambda rs, k: statistics.median(getattr(r, k) for r in rs)  # noqa: E731
        errs = sum(r.errors() for r in c.u + c.b)
        trs.append([
            c.label, f"{c.size:,}", fmt_rps(med(c.u, "rps")), fmt_rps(med(c.b, "rps")),
            f"{c.ratio():.2f}",
            f">= {c.ratio_target} {verdict(c.ratio() >= c.ratio_target)}" if c.ratio_target else "-",
            f"{fmt_ms(med(c.u, 'p50'))} / {fmt_ms(med(c.u, 'p99'))}",
            f"{fmt_ms(med(c.b, 'p50'))} / {fmt_ms(med(c.b, 'p99'))}",
            f"{c.p99_ratio():.2f}",
            f"<= {c.p99_target} {verdict(c.p99_ratio() <= c.p99_target)}" if c.p99_target else "-",
            str(errs),
        ])
    out.append(table(head, trs))
    out += ["", "Every run (req/s, p99), in the order they ran:", ""]
    runs = []
    for c in rows:
        seq = []
        for u, b in zip(c.u, c.b):
            seq.append(f"U {fmt_rps(u.rps)} ({fmt_ms(u.p99)})")
            seq.append(f"B {fmt_rps(b.rps)} ({fmt_ms(b.p99)})")
        runs.append([c.label, ", ".join(seq)])
    out.append(table(["endpoint", "runs"], runs))
    notes = [f"- {c.label}: {c.note}" for c in rows if c.note]
    if notes:
        out += ["", *notes]
    out += ["", problems_note(servers), "", commands_block(cmds)]
    return "\n".join(out)


def section_startup(ctx: Ctx, state: dict) -> str:
    m = ctx.mode
    times, self_reported, rss = [], [], []
    cmd = None
    for i in range(m.startups):
        log(f"start-up: run {i + 1}/{m.startups}")
        s = Server(ctx, [], f"understudy-startup-{i + 1}")
        cmd = s.cmd
        try:
            times.append(s.wait_answer("/", want=200, timeout=30) * 1000)
            rss.append(s.rss_kb())
            try:
                mm, _ = s.wait_log(r"listening on .*ready in (\d+) ms", timeout=5)
                self_reported.append(int(mm.group(1)))
            except TimeoutError:
                pass
        finally:
            s.stop()
    t_med = statistics.median(times)
    rows = [
        [f"spawn -> first 200 of `GET /` (median of {len(times)})", fmt_ms(t_med),
         f"min {fmt_ms(min(times))}, max {fmt_ms(max(times))}", f"< 100 ms {verdict(t_med < 100)}"],
        ["`ready in N ms` in the server's log (median)",
         f"{statistics.median(self_reported):.0f} ms" if self_reported else "not logged", "", ""],
        ["RSS right after the first answer (median)", fmt_mb(statistics.median(rss)), "", ""],
    ]
    after = state.get("rss_after_throughput_kb")
    if after is not None:
        rows.append(["RSS after the throughput runs (default size)", fmt_mb(after),
                     f"{state.get('fds_after_throughput')} fds", f"< 30 MB {verdict(after / 1000 < 30)}"])
    else:
        why = "section failed" if state.get("throughput_ran") else "section not run"
        rows.append(["RSS after the throughput runs (default size)", f"not measured ({why})",
                     "", "< 30 MB"])
    out = [
        "## Start-up and memory at the default size (the four embedded specs)",
        "",
        table(["measure", "value", "spread", "target"], rows),
        "",
        "Time is from spawning the process to the first 200 answer of `GET /` (polled every ms); "
        "RSS is VmRSS from /proc/PID/status; the throughput server is the one of the previous "
        "section, measured after all its wrk runs.",
        "",
        commands_block([f"{cmd}   # {m.startups} times, RUST_LOG=info"]),
    ]
    return "\n".join(out)


def openapi_version(path: Path) -> str:
    """The `openapi` field of a document (YAML or JSON), read from its first 4 KB."""
    with open(path, "rb") as f:
        head = f.read(4096).decode("utf-8", "replace")
    m = re.search(r"""^\s*["']?openapi["']?\s*:\s*["']?(\d+\.\d+)""", head, re.M)
    return m.group(1) if m else "?"


def section_documents(ctx: Ctx, state: dict) -> str:
    """Issue 9: a large real document served with no annotations, plain and --strict. Fails only
    when a server does not start or does not answer 200 within 60 s."""
    rows, cmds, servers, skipped = [], [], [], []
    for label, name, path, headers in DOCUMENTS:
        doc = FIXTURES / name
        if not doc.is_file():
            skipped.append(f"- {label}: skipped: run bash .ci/fixtures.sh (`{rel(doc)}` is missing)")
            continue
        version, size = openapi_version(doc), doc.stat().st_size
        targeted = version == "3.1" and size >= 2_000_000
        curl = "curl " + " ".join(f"-H {shlex.quote(f'{k}: {v}')}" for k, v in headers.items())
        for flags in ([], ["--strict"]):
            log(f"documents: {label} {' '.join(flags)}".rstrip())
            stem = name.split(".")[0] + ("-strict" if flags else "")
            s = Server(ctx, [*flags, rel(doc)], f"understudy-{stem}")
            servers.append(s)
            cmds.append(s.cmd + "   # RUST_LOG=info")
            cmds.append(f"{curl} 'http://127.0.0.1:{s.port}{path}'   # polled every ms until 200, "
                        f"then {DOC_REQUESTS} times; then VmHWM from /proc/PID/status")
            try:
                first = s.wait_answer(path, headers, want=200, timeout=60)
                try:
                    mm, _ = s.wait_log(r"listening on .*ready in (\d+) ms", timeout=5)
                    ready = f"{int(mm.group(1)):,} ms"
                except TimeoutError:
                    ready = "not logged"
                lat, statuses = [], {}
                for _ in range(DOC_REQUESTS):
                    status, _, secs = s.request("GET", path, headers, timeout=60)
                    lat.append(secs * 1000)
                    if status != 200:
                        statuses[status] = statuses.get(status, 0) + 1
                hwm = s.status_kb("VmHWM")
            finally:
                s.stop()
            t_ok, m_ok = first < 1, hwm / 1000 < 80
            other = ", ".join(f"{n} x {st}" for st, n in sorted(statuses.items()))
            rows.append([
                label, f"{version}, {size / 1e6:.1f} MB", " ".join(flags) or "(none)",
                f"{first * 1000:,.0f} ms", ready, fmt_mb(hwm),
                f"{fmt_ms(statistics.median(lat))}" + (f"; not 200: {other}" if other else ""),
                f"< 1 s {verdict(t_ok)}, < 80 MB {verdict(m_ok)}" if targeted
                else f"(not 3.1: < 1 s {verdict(t_ok)}, < 80 MB {verdict(m_ok)})",
            ])
    out = [
        "## Large real documents served with no annotations (issue 9)",
        "",
        "Each document of `target/fixtures/` (written by `bash .ci/fixtures.sh`) is served alone, "
        "then again with `--strict`. Time is from spawning the process to the first 200 of the list "
        f"operation (a new connection every ms); peak RSS is VmHWM from /proc/PID/status after "
        f"{DOC_REQUESTS} more requests of the same operation (one keep-alive connection, their "
        "median latency beside it). Target (issue 9): a 2 MB+ OpenAPI 3.1 document loaded and "
        "answering in under 1 s, RSS under 80 MB; Prism, for comparison, takes about 3 s and 183 MB "
        "on a 1.7 MB document.",
        "",
    ]
    if rows:
        out.append(table(["document", "OpenAPI, size", "flags", "spawn -> first 200",
                          "`ready in N ms` (log)", f"VmHWM after {DOC_REQUESTS} more",
                          f"{DOC_REQUESTS} requests: median", "target (issue 9)"], rows))
        out.append("")
    if skipped:
        out += [*skipped, ""]
    if servers:
        out += [problems_note(servers), "", commands_block(cmds)]
    return "\n".join(out).rstrip()


def section_million(ctx: Ctx, state: dict) -> str:
    cmds = []
    servers = []
    rows = []
    # Vectara
    log("1M: vectara")
    v = Server(ctx, ["--api", "vectara", "--count", str(MILLION)], "understudy-vectara-1m")
    servers.append(v)
    cmds.append(v.cmd + "   # RUST_LOG=info")
    try:
        start = v.wait_answer("/", want=None, timeout=120)
        path = "/v2/agents?filter=support.*&limit=10"
        status, _, first = v.request("GET", path, APIKEY)
        status2, _, second = v.request("GET", path, APIKEY)
        cmds.append(f"curl -H 'x-api-key: k' 'http://127.0.0.1:{v.port}{path}'   # right after the first answer, then again")
        try:
            mm, seen = v.wait_log(r"indexes ready in (\d+) ms", timeout=120)
            idx = f"{int(mm.group(1)):,} ms (logged {seen:.1f} s after spawn)"
        except TimeoutError:
            idx = "not logged within 120 s"
        rss = v.rss_kb()
        rows += [
            ["Vectara", "spawn -> first answer (`GET /`, any status)", f"{start * 1000:,.0f} ms",
             f"< 3 s {verdict(start < 3)}"],
            ["Vectara", f"first `GET {path}` right after ({status})", fmt_ms(first * 1000),
             f"< 300 ms {verdict(first < 0.3 and status == 200)}"],
            ["Vectara", f"the same filter again ({status2})", fmt_ms(second * 1000), ""],
            ["Vectara", "indexes ready", idx, ""],
            ["Vectara", "RSS after that", fmt_mb(rss), ""],
        ]
    finally:
        v.stop()
    # Letta
    log("1M: letta")
    lt = Server(ctx, ["--api", "letta", "--count", str(MILLION)], "understudy-letta-1m")
    servers.append(lt)
    cmds.append(lt.cmd + "   # RUST_LOG=info; waits for the log line `indexes ready in N ms`")
    try:
        start = lt.wait_answer("/", want=None, timeout=120)
        mm, seen = lt.wait_log(r"indexes ready in (\d+) ms", timeout=300)
        warm = int(mm.group(1))
        rss = lt.rss_kb()
        status, _, page = lt.request("GET", "/v1/agents/?limit=50", BEARER)
        rows += [
            ["Letta", "spawn -> first answer (`GET /`, any status)", f"{start * 1000:,.0f} ms",
             f"< 3 s {verdict(start < 3)}"],
            ["Letta", "index warm-up (`indexes ready in N ms`)",
             f"{warm:,} ms (logged {seen:.1f} s after spawn)", f"< 3 s {verdict(warm < 3000)}"],
            ["Letta", "RSS after the indexes", fmt_mb(rss), f"< 400 MB {verdict(rss / 1000 < 400)}"],
            ["Letta", f"`GET /v1/agents/?limit=50` after that ({status})", fmt_ms(page * 1000), ""],
        ]
    finally:
        lt.stop()
    out = [
        f"## {MILLION:,} entities",
        "",
        table(["API", "measure", "value", "target"], rows),
        "",
        problems_note(servers),
        "",
        commands_block(cmds),
    ]
    return "\n".join(out)


def section_sessions(ctx: Ctx, state: dict) -> str:
    n = ctx.mode.sessions
    s = Server(ctx, [], "understudy-sessions")
    path = f"/__understudy/scenarios/{SCENARIO}/start"
    try:
        s.wait_answer()
        s.get_ok("/")
        rss0, fds0 = s.rss_kb(), s.fds()
        lat = []
        log(f"sessions: starting {SCENARIO} in {n} sessions")
        t0 = time.perf_counter()
        for i in range(1, n + 1):
            status, data, secs = s.request(
                "POST", path, {"Content-Type": "application/json", "X-Understudy-Session": f"bench-{i}"})
            if status != 200:
                raise RuntimeError(f"session bench-{i}: {status} {data[:300]!r}")
            lat.append(secs * 1000)
        total = time.perf_counter() - t0
        status, data, _ = s.request("GET", "/__understudy/state", {"X-Understudy-Session": f"bench-{n}"})
        if status != 200 or SCENARIO.encode() not in data:
            raise RuntimeError(f"session bench-{n} does not show {SCENARIO}: {status} {data[:300]!r}")
        rss1, fds1 = s.rss_kb(), s.fds()
        tenth = max(1, n // 10)
        first_tenth, last_tenth = statistics.median(lat[:tenth]), statistics.median(lat[-tenth:])
        q = statistics.quantiles(lat, n=100)
        rows = [
            ["sessions, each starting " + f"`{SCENARIO}`", f"{n:,}"],
            ["total time", f"{total:.2f} s ({n / total:,.0f} starts/s, one keep-alive connection)"],
            ["per start p50 / p99 / max", f"{fmt_ms(q[49])} / {fmt_ms(q[98])} / {fmt_ms(max(lat))}"],
            [f"per start, median of the first / last {tenth}", f"{fmt_ms(first_tenth)} / {fmt_ms(last_tenth)}"],
            ["RSS before / after", f"{fmt_mb(rss0)} / {fmt_mb(rss1)} (+{(rss1 - rss0) / n:.1f} KiB per session)"],
            ["fds before / after", f"{fds0} / {fds1}"],
        ]
        notes = problems_note([s])
    finally:
        s.stop()
    cmds = [
        s.cmd + "   # RUST_LOG=info",
        f"for i in $(seq 1 {n}); do curl -s -X POST -H 'Content-Type: application/json' "
        f"-H \"X-Understudy-Session: bench-$i\" http://127.0.0.1:{s.port}{path}; done"
        "   # equivalent; run.py uses one keep-alive connection",
    ]
    return "\n".join(["## Scenario sessions", "", table(["measure", "value"], rows), "", notes, "",
                      commands_block(cmds)])


def section_writes(ctx: Ctx, state: dict) -> str:
    """Issue 10's figures: a write answers at least half as many requests per second as a
    detail read, and 1,000 sessions of 100 written agents stay under 200 MB RSS."""
    m = ctx.mode
    cmds: list[str] = []
    s = Server(ctx, [], "understudy-writes")
    cmds.append(s.cmd + "   # RUST_LOG=info")
    rows = []
    try:
        s.wait_answer()
        agents = json.loads(s.get_ok("/everruns/v1/agents", BEARER))["data"]
        ids = [a["id"] for a in agents]
        detail = f"/everruns/v1/agents/{ids[0]}"

        def read_args(secs: int) -> list[str]:
            return ["-t1", "-c32", f"-d{secs}s", "--latency", *header_flags(BEARER),
                    f"http://127.0.0.1:{s.port}{detail}"]

        def write_args(kind: str, secs: int) -> list[str]:
            extra = ids if kind != "create" else []
            return ["-t1", "-c32", f"-d{secs}s", "--latency", "-s", str(WRITES_LUA),
                    f"http://127.0.0.1:{s.port}", "--", kind, *extra]

        cmds.append(show(["wrk", *read_args(m.wrk_seconds)]) + "   # detail read")
        for kind in ("create", "update", "delete"):
            cmds.append(show(["wrk", *write_args(kind, m.wrk_seconds)]).replace(
                " ".join(ids), "IDS...") + f"   # {kind}")
        log(f"writes: warm-up ({m.warmup_seconds} s)")
        run_wrk(ctx, read_args(m.warmup_seconds), m.warmup_seconds)
        results: dict[str, list[WrkResult]] = {"read": [], "create": [], "update": [], "delete": []}
        for i in range(m.rounds):
            log(f"writes: round {i + 1}/{m.rounds} (read, create, update, delete)")
            results["read"].append(run_wrk(ctx, read_args(m.wrk_seconds), m.wrk_seconds))
            for kind in ("create", "update", "delete"):
                # A fresh server for each write run: what earlier runs wrote is gone (the
                # server's budget for written entities is never what is measured).
                s.stop()
                s = Server(ctx, [], f"understudy-writes-{kind}-{i + 1}")
                s.wait_answer()
                results[kind].append(run_wrk(ctx, write_args(kind, m.wrk_seconds), m.wrk_seconds))
            s.stop()
            s = Server(ctx, [], f"understudy-writes-read-{i + 2}")
            s.wait_answer()
        med = lambda rs, k: statistics.median(getattr(r, k) for r in rs)  # noqa: E731
        read_rps = med(results["read"], "rps")
        for kind in ("read", "create", "update", "delete"):
            rs = results[kind]
            ratio = med(rs, "rps") / read_rps
            rows.append([
                "detail read (GET)" if kind == "read" else kind,
                fmt_rps(med(rs, "rps")),
                "-" if kind == "read" else f"{ratio:.2f}",
                "-" if kind == "read" else f">= 0.5 {verdict(ratio >= 0.5)}",
                f"{fmt_ms(med(rs, 'p50'))} / {fmt_ms(med(rs, 'p99'))}",
                str(sum(r.errors() for r in rs)),
            ])
    finally:
        s.stop()

    # Memory: sessions each holding written agents.
    n, per = m.sessions, 100
    t = Server(ctx, [], "understudy-written-sessions")
    cmds.append(t.cmd + "   # RUST_LOG=info")
    try:
        t.wait_answer()
        t.get_ok("/")
        rss0 = t.rss_kb()
        log(f"writes: {n} sessions x {per} created agents")
        body = json.dumps({"name": "held-agent", "system_prompt": "You are held in memory.",
                           "tags": ["bench"]}).encode()
        t0 = time.perf_counter()
        for i in range(n):
            h = {**BEARER, "Content-Type": "application/json", "X-Understudy-Session": f"held-{i}"}
            for _ in range(per):
                status, data, _ = t.request("POST", "/everruns/v1/agents", h, body)
                if status != 201:
                    raise RuntimeError(f"create in held-{i}: {status} {data[:300]!r}")
        total = time.perf_counter() - t0
        status, data, _ = t.request("GET", "/everruns/v1/agents", {**BEARER, "X-Understudy-Session": f"held-{n - 1}"})
        listed = len(json.loads(data)["data"]) if status == 200 else -1
        rss1 = t.rss_kb()
        mem_rows = [
            ["sessions x created agents", f"{n:,} x {per} = {n * per:,} (Everruns agents)"],
            ["time", f"{total:.1f} s ({n * per / total:,.0f} creates/s, one keep-alive connection)"],
            ["the last session lists", f"{listed} agents"],
            ["RSS before / after", f"{fmt_mb(rss0)} / {fmt_mb(rss1)}"],
            ["target (1,000 x 100)", f"< 200 MB {verdict(rss1 < 200 * 1024) if n >= 1000 else '(full run only)'}"],
        ]
        notes = problems_note([s, t])
    finally:
        t.stop()
    cmds.append("# then, per session held-i: 100 x POST /everruns/v1/agents with X-Understudy-Session: held-i")
    return "\n".join([
        "## Writes: throughput against a detail read, and memory of written sessions", "",
        f"`wrk -t1 -c32 -d{m.wrk_seconds}s`, {m.rounds} rounds of (read, create, update, delete), "
        "medians; writes spread over sessions of at most 500 writes (bench/writes.lua).", "",
        table(["request", "req/s", "ratio to the read", "target", "p50 / p99", "errors"], rows), "",
        table(["measure", "value"], mem_rows), "", notes, "", commands_block(cmds)])


SOAK_CONNECTIONS = 256  # the soak's wrk -c


def half_rate_pause_ms(saturated_rps: float) -> int:
    """The pause after each answer with which the soak's connections offer half `saturated_rps`."""
    return max(1, round(SOAK_CONNECTIONS / (max(saturated_rps, 1.0) / 2) * 1000))


def wrk_cmd(args: list[str]) -> str:
    """A wrk command line of the soak, its script named relative to the repository."""
    return show(["wrk", *[rel(Path(a)) if a == str(SOAK_LUA) else a for a in args]])


def section_soak(ctx: Ctx, state: dict) -> str:
    m = ctx.mode
    sessions = 8
    s = Server(ctx, [], "understudy-soak")
    try:
        s.wait_answer()
        ids = first_ids(s)
        detail = s.get_ok(f"/everruns/v1/agents/{ids['everruns']}", BEARER)
        for i in range(1, sessions // 2 + 1):
            status, data, _ = s.request("POST", f"/__understudy/scenarios/{SCENARIO}/start",
                                        {"Content-Type": "application/json",
                                         "X-Understudy-Session": f"soak-{i}"})
            if status != 200:
                raise RuntimeError(f"starting {SCENARIO} in soak-{i}: {status} {data[:300]!r}")
        if s.conn is not None:
            s.conn.close()
            s.conn = None
        url = f"http://127.0.0.1:{s.port}"
        tail = ["--", ids["everruns"], ids["vectara"], ids["letta"], ids["pipecat"], str(sessions)]
        idle_args = ["-t1", "-c1", f"-d{m.idle_seconds}s", "--latency", "-s", str(SOAK_LUA), url, *tail]
        soak_args = ["-t2", f"-c{SOAK_CONNECTIONS}", f"-d{m.soak_seconds}s", "--latency", "-s", str(SOAK_LUA), url, *tail]
        rss_start, fds_start = s.rss_kb(), s.fds()
        log(f"soak: idle run (-c1, {m.idle_seconds} s)")
        idle = run_wrk(ctx, idle_args, m.idle_seconds)
        samples = [(0.0, s.rss_kb(), s.fds())]

        def sample(elapsed: float) -> None:
            samples.append((elapsed, s.rss_kb(), s.fds()))

        log(f"soak: -t2 -c256 for {m.soak_seconds} s, sampling RSS and fds every 2 s")
        soak = run_wrk(ctx, soak_args, m.soak_seconds, on_tick=sample, tick=2.0)
        if samples[-1][0] < m.soak_seconds - 1:  # the last tick may fall just after wrk ended
            sample(float(m.soak_seconds))
        s.wait_answer("/", want=200, timeout=10)
        rss_end, fds_end = s.rss_kb(), s.fds()
        # The same 256 connections offering half the rate the saturated run reached: the p99
        # target is about a server that is busy, not about the queue of one that is saturated.
        pause_ms = half_rate_pause_ms(soak.rps)
        paced_args = [*soak_args, str(pause_ms)]
        paced_args[2] = f"-d{m.paced_seconds}s"
        log(f"soak: paced run, -t2 -c256 pausing {pause_ms} ms per connection, {m.paced_seconds} s")
        paced = run_wrk(ctx, paced_args, m.paced_seconds)
        notes = problems_note([s])
    finally:
        rc, stop_secs = s.stop()
    # The same three runs against bare hyper answering every request with an Everruns detail:
    # what this machine and wrk give a server that does no work, under the same protocol.
    bare = Bare.serving(ctx, detail)
    bare_seconds = min(m.soak_seconds, 2 * m.idle_seconds)
    try:
        def at_bare(args: list[str]) -> list[str]:
            return [f"http://127.0.0.1:{bare.port}" if a == url else a for a in args]

        log(f"soak: bare hyper, idle ({m.idle_seconds} s), saturated ({bare_seconds} s) and paced")
        b_idle = run_wrk(ctx, at_bare(idle_args), m.idle_seconds)
        b_sat_args = at_bare(soak_args)
        b_sat_args[2] = f"-d{bare_seconds}s"
        b_sat = run_wrk(ctx, b_sat_args, bare_seconds)
        b_pause_ms = half_rate_pause_ms(b_sat.rps)
        b_paced_args = [*at_bare(paced_args)[:-1], str(b_pause_ms)]
        b_paced = run_wrk(ctx, b_paced_args, m.paced_seconds)
    finally:
        bare.stop()

    warm = [x for x in samples if x[0] >= 0.1 * m.soak_seconds]
    first, last = warm[0], warm[-1]
    d_rss = (last[1] - first[1]) / first[1] * 100
    d_fds = (last[2] - first[2]) / first[2] * 100
    p99_ratio = paced.p99 / idle.p99
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(soak.statuses.items())) or "none"
    idle_statuses = ", ".join(f"{k}: {v}" for k, v in sorted(idle.statuses.items())) or "none"
    sock = ", ".join(f"{k} {v}" for k, v in soak.socket_errors.items()) or "none reported"
    paced_statuses = ", ".join(f"{k}: {v}" for k, v in sorted(paced.statuses.items())) or "none"
    unexpected = soak.errors() + idle.errors() + paced.errors()
    rows = [
        ["requests (soak)", f"{soak.requests:,} ({fmt_rps(soak.rps)} req/s)", ""],
        ["non-2xx answers by status (soak)", statuses, "0"],
        ["non-2xx answers by status (idle run)", idle_statuses, "0"],
        ["non-2xx answers by status (paced run)", paced_statuses, "0"],
        ["wrk socket errors (soak)", sock, "0"],
        ["unexpected errors in all", str(unexpected), f"0 {verdict(unexpected == 0)}"],
        [f"RSS at {first[0]:.0f} s -> {last[0]:.0f} s",
         f"{fmt_mb(first[1])} -> {fmt_mb(last[1])} ({d_rss:+.1f}%)", f"within 10% {verdict(abs(d_rss) <= 10)}"],
        [f"open fds at {first[0]:.0f} s -> {last[0]:.0f} s", f"{first[2]} -> {last[2]} ({d_fds:+.1f}%)",
         f"within 10% {verdict(abs(d_fds) <= 10)}"],
        ["RSS / fds before the idle run, after the soak",
         f"{fmt_mb(rss_start)} / {fds_start}, {fmt_mb(rss_end)} / {fds_end}", ""],
        ["idle p50 / p99 (`-t1 -c1`)", f"{fmt_ms(idle.p50)} / {fmt_ms(idle.p99)}", ""],
        ["saturated soak p50 / p99 (`-t2 -c256`)", f"{fmt_ms(soak.p50)} / {fmt_ms(soak.p99)}", ""],
        ["saturated: p99 / p50 (tail spread under load)", f"{soak.p99 / soak.p50:.1f}", ""],
        ["saturated: expected mean latency (256 / soak req/s, Little's law)",
         fmt_ms(256 / soak.rps * 1000), ""],
        [f"paced run: 256 connections pausing {pause_ms} ms (0.5x-1.5x) between requests",
         f"{paced.requests:,} ({fmt_rps(paced.rps)} req/s, {paced.rps / soak.rps:.0%} of saturated)", ""],
        ["paced run p50 / p99", f"{fmt_ms(paced.p50)} / {fmt_ms(paced.p99)}", ""],
        ["paced p99 / idle p99", f"{p99_ratio:.1f}", f"<= 2 {verdict(p99_ratio <= 2)}"],
        ["bare hyper, the same protocol: idle p99; saturated req/s; paced (pausing "
         f"{b_pause_ms} ms) req/s and p99",
         f"{fmt_ms(b_idle.p99)}; {fmt_rps(b_sat.rps)}; {fmt_rps(b_paced.rps)}, {fmt_ms(b_paced.p99)}", ""],
        ["bare hyper: paced p99 / idle p99 (the reference)", f"{b_paced.p99 / b_idle.p99:.1f}", ""],
        ["bare hyper: non-2xx answers and socket errors in its three runs",
         str(b_idle.errors() + b_sat.errors() + b_paced.errors()), ""],
        ["SIGTERM after the soak", f"exit status {rc} in {stop_secs:.2f} s", "0"],
    ]
    out = [
        "## Soak: 256 connections, mixed workload, sessions",
        "",
        f"`bench/soak.lua`: details, pages and filtered lists of the four APIs, half of them with an "
        f"`X-Understudy-Session` header (soak-1 .. soak-{sessions}; `{SCENARIO}` started in soak-1 .. "
        f"soak-{sessions // 2}). Every answer is expected to be 2xx. The idle p99 is the same "
        "workload with one connection, run first. The saturated run (each connection sends again as "
        "soon as it is answered) is the stress: errors, RSS and fds, sampled every 2 s; the "
        f"comparison is the first sample after {0.1 * m.soak_seconds:.0f} s (10% warm-up) vs the last. "
        "Its latency is the queue's (Little's law), whatever the code does. The p99 target is "
        "measured by the paced run after it: the same 256 connections, each pausing after an "
        "answer so that together they offer about half the saturated rate. The same three runs "
        "against bare hyper (answering every request with an Everruns detail, saturated for "
        f"{bare_seconds} s) show what the protocol gives a server that "
        "does no work: the ratio that the target can be read against.",
        "",
        table(["measure", "value", "target"], rows),
        "",
        "RSS and open fds over time:",
        "",
        table(["t (s)", "RSS", "fds"], [[f"{t:.0f}", fmt_mb(r), str(f)] for t, r, f in samples]),
        "",
        notes,
        "",
        commands_block([
            s.cmd + "   # RUST_LOG=info",
            *(f"curl -s -X POST -H 'Content-Type: application/json' -H 'X-Understudy-Session: soak-{i}' "
              f"http://127.0.0.1:{s.port}/__understudy/scenarios/{SCENARIO}/start"
              for i in range(1, sessions // 2 + 1)),
            wrk_cmd(idle_args),
            wrk_cmd(soak_args) + "   # meanwhile every 2 s: VmRSS from /proc/PID/status, ls /proc/PID/fd | wc -l",
            wrk_cmd(paced_args) + f"   # pause: {SOAK_CONNECTIONS} / (saturated req/s / 2), in ms",
            bare.cmd + "   # BODY_FILE: the Everruns detail",
            wrk_cmd(at_bare(idle_args)),
            wrk_cmd(b_sat_args),
            wrk_cmd(b_paced_args) + f"   # pause: {SOAK_CONNECTIONS} / (bare's saturated req/s / 2), in ms",
        ]),
    ]
    text = "\n".join(out)
    if unexpected or rc != 0:
        # A smoke run (CI) must fail on these, whatever the figures say.
        raise RuntimeError(f"soak: {unexpected} unexpected errors, exit status {rc}\n\n{text}")
    return text


# ----------------------------------------------------------------------------------------------
# header and main


def machine() -> dict[str, str]:
    info = {}
    try:
        info["nproc"] = str(len(os.sched_getaffinity(0)))
    except AttributeError:
        info["nproc"] = str(os.cpu_count())
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["model"] = model
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    info["memory"] = mem
    info["kernel"] = f"{platform.system()} {platform.release()}"
    try:
        info["load"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        info["load"] = "unknown"
    return info


def capture(argv) -> str:
    try:
        r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=20)
        return (r.stdout or r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def header(ctx: Ctx, argv: list[str], only: list[str] | None = None) -> str:
    mi = machine()
    version = capture([ctx.understudy, "--version"]) or "unknown"
    commit = capture(["git", "rev-parse", "--short", "HEAD"])
    if commit and capture(["git", "status", "--porcelain", "--untracked-files=no"]):
        commit += " with uncommitted changes"
    wrk_v = capture(["wrk", "-v"]).splitlines()
    m = ctx.mode
    return "\n".join([
        "# understudy benchmark",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: nproc {mi['nproc']}, {mi['model']}, {mi['memory']} memory, {mi['kernel']}; "
        f"load average at start {mi['load']} (other work on the machine skews every figure)",
        f"- understudy: {version}" + (f", commit {commit}" if commit else ""),
        f"- wrk: {wrk_v[0].strip() if wrk_v else 'unknown'}; Python {platform.python_version()}",
        f"- mode: {m.name} (wrk runs {m.wrk_seconds} s, {m.sessions:,} sessions, soak {m.soak_seconds} s + {m.paced_seconds} s paced"
        + (", million-entity section skipped" if not m.million else "") + ")"
        + (f"; only the sections {', '.join(only)} (`--only`)" if only else ""),
        f"- command: `{show(['python3', 'bench/run.py', *argv])}`",
        f"- binaries: `{rel(ctx.understudy)}`, `{rel(ctx.bare)}`; every server on 127.0.0.1",
    ])


# (--only key, name in the progress log and in a failure's heading, function), in running order
SECTIONS = [
    ("throughput", "throughput", section_throughput),
    ("startup", "start-up", section_startup),
    ("documents", "large documents", section_documents),
    ("million", "1M entities", section_million),
    ("sessions", "sessions", section_sessions),
    ("writes", "writes", section_writes),
    ("soak", "soak", section_soak),
]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python3 bench/run.py",
        description="Benchmark understudy against a bare hyper server (see bench/README.md).")
    ap.add_argument("--quick", action="store_true",
                    help="short runs (2 s wrk runs, 100 sessions, 10 s soak + 5 s paced), no million-entity section")
    ap.add_argument("--out", metavar="FILE", help="also write the Markdown report to FILE")
    ap.add_argument("--no-build", action="store_true",
                    help="do not run `cargo build --release --bins --examples` first")
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep the temporary folder with server logs and wrk outputs")
    ap.add_argument("--only", metavar="SECTION", action="append", choices=[k for k, _, _ in SECTIONS],
                    help="run only this section (repeatable): " + ", ".join(k for k, _, _ in SECTIONS))
    args = ap.parse_args(argv)
    mode = QUICK if args.quick else FULL
    sections = [x for x in SECTIONS if not args.only or x[0] in args.only]
    keys = {k for k, _, _ in sections}

    if keys & {"throughput", "soak"} and shutil.which("wrk") is None:
        print("error: wrk is not on PATH (Debian/Ubuntu: apt-get install wrk)", file=sys.stderr)
        return 2
    if not args.no_build:
        log("cargo build --release --bins --examples")
        r = subprocess.run(["cargo", "build", "--release", "--bins", "--examples"], cwd=ROOT)
        if r.returncode != 0:
            return r.returncode
    target = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    target = target if target.is_absolute() else ROOT / target
    understudy = target / "release" / "understudy"
    bare = target / "release" / "examples" / "bare_hyper"
    for b in (understudy, bare) if keys & {"throughput", "soak"} else (understudy,):
        if not b.exists():
            print(f"error: {b} does not exist (run without --no-build)", file=sys.stderr)
            return 2

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    tmp = Path(tempfile.mkdtemp(prefix="understudy-bench-"))
    ctx = Ctx(mode, understudy, bare, tmp)
    parts = [header(ctx, argv, [k for k, _, _ in sections] if args.only else None)]
    print(parts[0] + "\n", flush=True)
    state: dict = {}
    failed = interrupted = False
    t_all = time.perf_counter()
    try:
        for _, name, fn in sections:
            if fn is section_million and not mode.million:
                md = "## 1,000,000 entities\n\nSkipped (`--quick`)."
            else:
                log(f"section: {name}")
                t = time.perf_counter()
                try:
                    md = fn(ctx, state)
                    md += f"\n\n_Section time: {time.perf_counter() - t:.0f} s._"
                except KeyboardInterrupt:
                    raise
                except Exception as e:  # report and go on with the next section
                    failed = True
                    log(f"section {name} failed: {e}")
                    md = f"## {name}\n\n**Failed**: {e}\n\n```\n{traceback.format_exc()[-3000:]}\n```"
            parts.append(md)
            print(md + "\n", flush=True)
    except KeyboardInterrupt:
        interrupted = True
        parts.append("**Interrupted**: the sections above are all that ran.")
        print(parts[-1], flush=True)
    finally:
        ctx.procs.stop_all()
    parts.append(f"_Total time: {time.perf_counter() - t_all:.0f} s._")
    print(parts[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n\n".join(parts) + "\n")
        log(f"wrote {args.out}")
    if failed or interrupted or args.keep_logs:
        log(f"logs and wrk outputs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 130 if interrupted else (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
