#!/usr/bin/env python3
"""Answer fingerprints: a safety net for refactors of understudy's data layer.

A performance change to the data layer must not change one byte of any answer. For each binary
and each API this starts `BIN serve --api API --count N --seed SEED --port P` on a free loopback
port, waits for `GET /__understudy/ready`, sends a fixed list of GET requests (details; every
declared sort both ways and every filter kind, each walked three pages as the API pages; limits,
totals, bad page tokens; see the function of each API below) and records sha256("STATUS\\n" +
body) of each answer. Later requests take keys, next tokens and filter values from earlier
answers, so the list is the same whenever the answers are. Every request is in the session
`answers`, so the request ids in error bodies count from zero in every run.

    python3 bench/answers.py --bin target/release/understudy       # prints the fingerprints
    python3 bench/answers.py --bin OLD --bin NEW --count 1000000 [--api letta --api vectara]
    python3 bench/answers.py --bin OLD --bin NEW --writes    # also writes, in their own session

One binary: a line per request, `sha256  API  GET PATH?QUERY`. Several: the requests whose
answers differ (or that not every binary was sent), then `N requests, M differ`, and exit status
1 when any differ. Progress goes to stderr. Every server is stopped at the end, also on error,
Ctrl-C or SIGTERM. Python 3 standard library only.
"""

import argparse, hashlib, http.client, json, os, re, shutil, signal, socket
import subprocess, sys, tempfile, time
from collections import Counter
from urllib.parse import urlencode

APIS = ["letta", "vectara", "everruns", "pipecat-cloud"]
AUTH = {  # the credentials README.md shows for each API; any well-formed one is accepted
    "letta": {"Authorization": "Bearer sk-let-answers"},
    "vectara": {"x-api-key": "zqt_answers"},
    "everruns": {"Authorization": "ApiKey evr_answers"},
    "pipecat-cloud": {"Authorization": "Bearer pk_answers"},
}
SESSION = {"X-Understudy-Session": "answers"}


class Server:
    """One `understudy serve --api API` on a free port, with a keep-alive connection to it."""

    def __init__(self, binary, api, count, seed, timeout):
        binary = os.path.abspath(binary) if os.sep in binary else shutil.which(binary) or binary
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.argv = [binary, "serve", "--api", api, "--count", str(count), "--seed", str(seed),
                     "--port", str(self.port)]
        self.log = tempfile.TemporaryFile()
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNDERSTUDY_")}
        self.cwd = tempfile.TemporaryDirectory()  # no ./understudy.toml is picked up
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd.name, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(self, target, headers, method="GET", body=None):
        for attempt in (1, 2):  # a kept-alive connection the server closed is reopened, once
            try:
                self.conn.request(method, target, body=body, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except Exception as e:
                self.conn.close()
                if attempt == 2 or not isinstance(e, ConnectionError):
                    raise

    def wait_ready(self, seconds):
        deadline = time.monotonic() + seconds
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                if self.get("/__understudy/ready", {})[0] == 200:
                    return
            except (http.client.HTTPException, OSError):
                pass
            time.sleep(0.1)
        self.log.seek(0)
        log = self.log.read().decode(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(self.argv)}: not ready (exit {self.proc.poll()}):\n{log}")

    def stop(self):
        self.conn.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.cwd.cleanup()


class Run:
    """The requests sent to one server, each recorded as `API  GET TARGET` -> sha256."""

    def __init__(self, server, api):
        self.server, self.api = server, api
        self.answers, self.statuses = {}, Counter()

    def get(self, path, *params):
        target = path + ("?" + urlencode(params) if params else "")
        status, body = self.server.get(target, {**AUTH[self.api], **SESSION})
        key, n = f"{self.api}  GET {target}", 1
        while key in self.answers:  # the same request again is recorded again, not overwritten
            n += 1
            key = f"{self.api}  GET {target}  (#{n})"
        self.answers[key] = hashlib.sha256(b"%d\n" % status + body).hexdigest()
        self.statuses[status] += 1
        return status, body

    def send(self, method, path, body=None):
        """A write (or a read after one) in the session `answers-writes`, recorded with its
        body."""
        data = None if body is None else json.dumps(body).encode()
        headers = {**AUTH[self.api], "X-Understudy-Session": "answers-writes"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        status, answer = self.server.get(path, headers, method, data)
        key, n = f"{self.api}  {method} {path}  {data.decode() if data else ''}", 1
        while key in self.answers:
            n += 1
            key = f"{self.api}  {method} {path}  {data.decode() if data else ''}  (#{n})"
        self.answers[key] = hashlib.sha256(b"%d\n" % status + answer).hexdigest()
        self.statuses[status] += 1
        return json.loads(answer) if status in (200, 201) and answer else None

    def json(self, path, *params):
        status, body = self.get(path, *params)
        return json.loads(body) if status == 200 else None

    def walk(self, path, params, next_params, start=(), pages=3):
        """Up to `pages` consecutive pages; next_params(page) gives the next page's cursor or
        token parameters, or nothing at the end. Returns the pages answered 200."""
        out, cursor = [], list(start)
        for _ in range(pages):
            page = self.json(path, *params, *cursor)
            if page is None:
                break
            out.append(page)
            cursor = next_params(page)
            if not cursor:
                break
        return out


def spread(items, n):
    """n items evenly spaced through `items` (all of them when there are fewer)."""
    return [items[i * len(items) // n] for i in range(min(n, len(items)))]


def letta(run):
    """Cursor paging (after, before), sorts by order/order_by, nine filters, include."""
    A = "/v1/agents/"
    after = lambda page: [("after", page[-1]["id"])] if page else []
    top = run.json(A) or []  # the default page: 50, newest first
    deep = [a for p in run.walk(A, [("limit", 1000)], after) for a in p]  # limit at max
    tail = run.json(A, ("order", "asc"), ("limit", 1000)) or []  # the other end of the list
    for a in spread(top, 7) + spread(deep[len(top):], 7) + spread(tail, 6):
        run.get(A + a["id"])
    include = [("include", "agent." + f) for f in
               ("blocks", "identities", "managed_group", "secrets", "sources", "tags", "tools")]
    if top:
        run.get(A + top[0]["id"], *include)
    run.get(A, *include, ("limit", 5))
    run.get(A + "agent-00000000-0000-4000-8000-000000000000")  # well-formed, unknown: 404
    run.get(A + "agent-nope")  # malformed: 422

    for by in ("created_at", "updated_at", "last_run_completion"):
        for order in ("asc", "desc"):
            run.walk(A, [("order", order), ("order_by", by), ("limit", 7)], after)
    for asc in ("true", "false"):  # the deprecated spelling
        for by in ("created_at", "last_run_completion"):
            run.walk(A, [("ascending", asc), ("sort_by", by), ("limit", 7)], after)
    if len(deep) > 20:  # `before` bounds the window that `after` walks
        m = len(deep) // 2
        run.walk(A, [("before", deep[m]["id"]), ("limit", 7)], after,
                 start=[("after", deep[m - 10]["id"])])
        run.get(A, ("order", "asc"), ("order_by", "updated_at"), ("before", deep[m]["id"]),
                ("limit", 7))

    # Filter values taken from real agents (tags and identities need `include` to show).
    rich = run.json(A, ("include", "agent.tags"), ("include", "agent.identities"),
                    ("limit", 200)) or []
    t1, t2 = next((a["tags"][:2] for a in rich if len(a["tags"]) >= 2), ["production", "beta"])
    idents = [i for a in rich for i in a["identities"]]
    ident = idents[0]["id"] if idents else "identity-b993b3df-1e2a-44d0-bfab-3857aa2ae8d0"
    keys = sorted({i["identifier_key"] for i in idents})[:2] or ["user_1842"]
    value = lambda f: next((a[f] for a in deep if a.get(f)), "none")  # a real value of field f
    filters = [
        [("name", top[3]["name"] if len(top) > 3 else "support-bot-001")],
        [("tags", t1)], [("tags", t1), ("tags", t2)], [("tags", t1), ("match_all_tags", "false")],
        [("tags", t1), ("tags", t2), ("match_all_tags", "true")],
        [("query_text", "support")], [("query_text", "BOT-1")], [("query_text", "no such name")],
        [("project_id", value("project_id"))], [("template_id", value("template_id"))],
        [("base_template_id", value("base_template_id"))],
        [("identity_id", ident)],
        [("identifier_keys", keys[0])], [("identifier_keys", k) for k in keys],
        [("last_stop_reason", value("last_stop_reason"))],
        [("last_stop_reason", "context_window_overflow_in_system_prompt")],
        [("tags", t1), ("project_id", value("project_id")), ("order", "asc"),
         ("order_by", "last_run_completion")],
        [("query_text", "agent"), ("last_stop_reason", "end_turn"), ("include", "agent.tags")],
    ]
    for f in filters:
        run.walk(A, f + [("limit", 10)], after)
    run.get(A, ("include_relationships", "tools"), ("limit", 3))  # deprecated
    for bad in [("limit", 0), ("limit", 1001), ("limit", "abc"), ("order", "up"),
                ("order_by", "name"), ("match_all_tags", "perhaps"), ("last_stop_reason", "bogus"),
                ("include", "agent.nothing")]:
        run.get(A, bad)
    run.get(A, ("after", "garbage"), ("limit", 3))  # a cursor that names no agent is ignored
    run.get(A, ("after", "agent-00000000-0000-4000-8000-000000000000"), ("limit", 3))


def vectara(run):
    """page_key paging with total_count; the `filter` regex and `enabled`; no sort declared."""
    A = "/v2/agents"
    def token(page):  # the next page's key; absent on the last page
        key = page["metadata"].get("page_key")
        return [("page_key", key)] if key else []

    top = (run.json(A) or {"agents": []})["agents"]  # the default page: 10, with total_count
    deep = [a for p in run.walk(A, [("limit", 100)], token) for a in p["agents"]]  # limit at max
    for a in spread(top, 10) + spread(deep[len(top):], 10):
        run.get(f"{A}/{a['id']}")
    run.get(f"{A}/agt_no_such_agent_000")  # 404

    run.walk(A, [("limit", 7)], token)
    name = top[0]["name"] if top else "Customer Support Agent"
    filters = [  # regexes matching many, none, case-insensitively, alternatives, one name
        [("filter", "support.*")], [("filter", "^no agent is called this$")],
        [("filter", "(?i)SUPPORT")], [("filter", "Billing (Agent|Copilot)|Legal")],
        [("filter", "^" + re.escape(name) + "$")], [("enabled", "true")], [("enabled", "false")],
        [("filter", "support.*"), ("enabled", "true")],
        [("filter", "(?i)research|hr policy"), ("enabled", "false")],
    ]
    for f in filters:
        run.walk(A, f + [("limit", 5)], token)
    first_page = run.json(A, ("filter", "support.*"), ("limit", 3))
    for bad in [("limit", 0), ("limit", 101), ("limit", "ten"), ("enabled", "maybe"),
                ("filter", "[unclosed"), ("filter", "a" * 1001), ("page_key", "garbage")]:
        run.get(A, bad)
    if first_page and first_page["metadata"].get("page_key"):
        pk = first_page["metadata"]["page_key"]
        run.get(A, ("limit", 3), ("page_key", pk))  # issued for another filter
        tampered = pk[:-1] + ("0" if pk[-1] != "0" else "1")
        run.get(A, ("filter", "support.*"), ("limit", 3), ("page_key", tampered))
        run.get(A, ("filter", "support.*"), ("limit", 9), ("page_key", pk))  # another page size


def everruns(run):
    """One unpaginated list of the active agents; `search` (every word, the first 8)."""
    A = "/v1/agents"
    status, body = run.get(A)  # every active agent at once: no pagination declared
    ids = [m.decode() for m in re.findall(rb'"id":"(agent_[0-9a-f]{32})"', body)]
    for key in ids[:10] + spread(ids[10:], 10):
        run.get(f"{A}/{key}")
    run.get(f"{A}/agent_{'0' * 32}")  # unknown: 404
    run.get(f"{A}/not-an-id")  # malformed: also 404
    for words in ["support", "Support Assistant", "SUPPORT assistant", "code review",
                  "triages tickets", "incident", "an agent that answers", "no agent matches this",
                  "a b c d e f g h support-ticket-zzz",  # the 9th word is past the 8 that count
                  ""]:
        run.get(A, ("search", words))
    run.get(A, ("search", "x" * 1001))  # past maxLength: 400


def pipecat(run):
    """Unpaginated lists, plain and organisation-scoped; `region`, `includeActiveDeployment`."""
    orgs = run.json("/v1/organizations") or {"organizations": [{"name": "tiny-ferret-maroon-123"}]}
    org = orgs["organizations"][0]["name"]
    O = f"/v1/organizations/{org}"
    regions = [r["code"] for r in (run.json(O + "/regions") or {"regions": []})["regions"]]
    status, body = run.get("/v1/agents")  # every agent at once: no pagination declared
    names = [m.decode() for m in re.findall(rb'"name":"([^"]+)","region"', body)]
    for name in spread(names, 20):
        run.get(f"/v1/agents/{name}")
    for name in spread(names, 5):
        run.get(f"{O}/services/{name}")
    run.get("/v1/agents/no-such-agent")  # 404
    run.get(f"{O}/services/no-such-agent")  # 404
    run.get("/v1/agents", ("includeActiveDeployment", "true"))
    for r in regions + ["mars"]:
        run.get("/v1/agents", ("region", r))
    run.get(O + "/services")
    if regions:  # the other combinations on a region only: whole lists are slow at --count 1e6
        run.get("/v1/agents", ("region", regions[0]), ("includeActiveDeployment", "true"))
        run.get("/v1/agents", ("region", regions[1]), ("includeActiveDeployment", "false"))
        run.get(O + "/services", ("region", regions[-1]))
        run.get(O + "/services", ("region", regions[0]), ("includeActiveDeployment", "true"))
    run.get("/v1/agents", ("includeActiveDeployment", "maybe"))  # 400
    run.get(O + "/properties")
    other = "/v1/organizations/not-my-org"  # an organisation the caller is not in: 403
    for path in ("/services", "/regions", f"/services/{names[0] if names else 'x'}"):
        run.get(other + path)


def writes(run, base, create, key, updates, bad, list_path=None, update="PATCH"):
    """Create (twice), read, list, update, refuse a bad body, delete, read again; each answer
    recorded. `key(entity)` is the created entity's key."""
    made = run.send("POST", base, create)
    run.send("POST", base, create)  # again: a second entity, or the API's conflict
    if made is None:
        return
    k = key(made)
    run.send("GET", f"{base}/{k}")
    run.send("GET", list_path or base)
    for body in updates:
        run.send(update, f"{base}/{k}", body)
    run.send("GET", f"{base}/{k}")
    for body in bad:
        run.send("POST", base, body)
        run.send(update, f"{base}/{k}", body)
    run.send("DELETE", f"{base}/{k}")
    run.send("GET", f"{base}/{k}")
    run.send(update, f"{base}/{k}", updates[0])
    run.send("GET", list_path or base)


WRITES = {
    "letta": lambda run: writes(
        run, "/v1/agents", {"name": "answers-agent", "description": "made by answers.py",
                            "tags": ["answers"]},
        lambda e: e["id"], [{"description": "changed"}, {"name": "renamed", "tags": []}],
        [{"name": 5}, {"tags": "not-a-list"}], list_path="/v1/agents/?limit=5"),
    "vectara": lambda run: writes(
        run, "/v2/agents", {"key": "agt_answers", "name": "Answers", "model": {"name": "gpt-4o",
                            "parameters": {}}, "tool_configurations": {},
                            "first_step": {"name": "greet", "type": "conversational",
                                           "instructions": [], "output_parser": {"type": "default"}}},
        lambda e: e["key"], [{"description": "changed"}, {"name": "Renamed", "enabled": False}],
        [{"name": 5}, {"key": ["x"]}], list_path="/v2/agents?limit=5"),
    "everruns": lambda run: writes(
        run, "/v1/agents", {"name": "answers-agent", "system_prompt": "You answer.",
                            "tags": ["answers"]},
        lambda e: e["id"], [{"description": "changed"}, {"system_prompt": None, "tags": ["a"]}],
        [{"name": 5}, {"tags": "x"}]),
    "pipecat-cloud": lambda run: writes(
        run, "/v1/agents", {"serviceName": "answers-bot", "image": "acme/bot:1"},
        lambda e: e.get("name") or "answers-bot", [{"image": "acme/bot:2"}],
        [{"serviceName": 5}, {"image": 7}], update="POST"),
}

FLOWS = {"letta": letta, "vectara": vectara, "everruns": everruns, "pipecat-cloud": pipecat}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", action="append", required=True, help="understudy binary (repeatable)")
    ap.add_argument("--count", type=int, default=2000, help="entities (default 2000)")
    ap.add_argument("--seed", type=int, default=20251122)
    ap.add_argument("--api", action="append", choices=APIS, help="repeatable; default: all four")
    ap.add_argument("--writes", action="store_true",
                    help="also create, update and delete an entity of each API (in another "
                         "session) and compare those answers")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds allowed for start-up and for each request (default 600)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the `finally` below

    results = []
    for binary in args.bin:
        answers = {}
        for api in args.api or APIS:
            t, server = time.monotonic(), Server(binary, api, args.count, args.seed, args.timeout)
            run = Run(server, api)
            try:
                server.wait_ready(args.timeout)
                FLOWS[api](run)
                if args.writes:
                    WRITES[api](run)
            except Exception as e:
                if not run.answers:  # the server did not start: nothing to compare
                    raise
                # An answer of another shape (or a crash): record it and go on comparing.
                run.answers[f"{api}  (stopped early: {type(e).__name__}: {e})"] = "-"
                print(f"{binary} {api}: stopped early: {e!r}", file=sys.stderr)
            finally:
                server.stop()
            answers.update(run.answers)
            other = "".join(f", {n} x {s}" for s, n in sorted(run.statuses.items()) if s != 200)
            print(f"{binary} {api}: {len(run.answers)} requests, {run.statuses[200]} x 200{other}"
                  f" ({time.monotonic() - t:.1f} s)", file=sys.stderr)
        results.append(answers)

    if len(results) == 1:
        for key, sha in results[0].items():
            print(f"{sha}  {key}")
        return 1 if any("(stopped early" in k for k in results[0]) else 0
    keys = list(dict.fromkeys(k for answers in results for k in answers))
    differ = [k for k in keys if len({answers.get(k) for answers in results}) > 1]
    for key in differ:
        print(key)
        for i, (binary, answers) in enumerate(zip(args.bin, results), 1):
            print(f"    {answers.get(key, '(not sent)'):64}  [{i}] {binary}")
    print(f"{len(keys)} requests, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
