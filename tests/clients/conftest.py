"""Shared fixtures for the official-client suites: each test module gets an understudy server
started from the repository's specs and scenarios on an ephemeral loopback port, with --strict
so that every response the clients read has also been checked against the spec.

UNDERSTUDY_BIN names the binary (default: target/debug/understudy, as .ci/run builds it)."""

import os
import pathlib
import re
import subprocess
import threading
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("UNDERSTUDY_BIN", str(ROOT / "target" / "debug" / "understudy"))


class Understudy:
    """A running understudy process and its address."""

    def __init__(self, *extra):
        args = [
            BIN,
            "serve",
            "--port",
            "0",
            "--strict",
            "--specs",
            str(ROOT / "specs"),
            "--scenarios",
            str(ROOT / "scenarios"),
            *extra,
        ]
        env = dict(os.environ, RUST_LOG="info", NO_COLOR="1")
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.log = []
        self.url = None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"listening on (http://[0-9.:]+)", line)
            if m:
                self.url = m.group(1)
                break
        if self.url is None:
            self.proc.kill()
            raise RuntimeError("understudy did not start:\n" + "".join(self.log))
        # Keep draining the log so the pipe never fills.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.log.append(line)

    def violations(self):
        return [l for l in self.log if "contract violation" in l]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def served(*extra):
    """A server with extra flags for a test module: yields it, stops it, and fails on any
    contract violation it logged."""
    server = Understudy(*extra)
    try:
        yield server
    finally:
        server.stop()
    assert server.violations() == [], "".join(server.violations())


def served_with_tokens(tmp_path_factory, lines):
    """A server that accepts only the listed tokens (`--tokens`, one `TOKEN [perms]` a line)."""
    tokens = tmp_path_factory.mktemp("tokens") / "tokens"
    tokens.write_text("".join(line + "\n" for line in lines))
    yield from served("--tokens", str(tokens))


@pytest.fixture(scope="module")
def understudy():
    yield from served()


@pytest.fixture
def session_id():
    """A fresh X-Understudy-Session value, so scenario state never leaks between tests."""
    return "clients-" + uuid.uuid4().hex[:12]


def request_json(url, method="GET", headers=None, body=None):
    """One request with urllib, errors included: (status, headers, parsed body or None)."""
    import json
    import urllib.error
    import urllib.request

    h = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"null")


def admin(server, method, path, session, body=None):
    """Call the admin API (scenarios, clock) for one session."""
    import json
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        server.url + "/__understudy" + path,
        data=data,
        method=method,
        headers={"X-Understudy-Session": session, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")
