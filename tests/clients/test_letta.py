"""Letta's official clients against understudy: `letta-client` 1.12.1 (PyPI) here, and
`@letta-ai/letta-client` 1.12.1 (npm) through tests/clients/letta-npm (run by
`test_npm_client` below, so that CI has one entry point).

What the clients do, from their installed sources (letta_client/ in site-packages;
letta-npm/node_modules/@letta-ai/letta-client/src):
- List auto-pagination (pagination.py SyncArrayPage, src/core/pagination.ts ArrayPage): the
  next page repeats the first request's parameters plus `after=<id of the last item>` (or
  `before=<id of the first item>` when `before` was given), and stops when a page is empty.
- Base URL: constructor `base_url` / `baseURL`, else env `LETTA_BASE_URL`; extra headers:
  `default_headers` / `defaultHeaders`, or env `LETTA_CUSTOM_HEADERS` ("Name: value" lines).
- Errors: 401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError, 422
  UnprocessableEntityError, 429 RateLimitError (retried, Retry-After honoured).
- Python's `_strict_response_validation=True` validates single-object responses with pydantic;
  list pages are built without validation (SyncArrayPage.build uses `construct`), so list items
  are validated here explicitly with `AgentState.model_validate`. The TypeScript client has no
  runtime validation at all.
- Both type AgentState `model` and `embedding` as handle strings ("openai/gpt-4.1") where the
  document gives objects: understudy serves the client's shape under the spec's `sdk` variant,
  selected by the `X-Understudy-Variant: sdk` header (or `serve --variant letta=sdk`).
"""

import json
import os
import pathlib
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime

import httpx
import pydantic
import pytest

import letta_client
from letta_client import Letta
from letta_client.types import AgentState

from conftest import Understudy, admin, request_json, served_with_tokens

TOKEN = "sk-let-test"
VARIANT = "sdk"
NPM_DIR = pathlib.Path(__file__).resolve().parent / "letta-npm"
DELETED_SCENARIO = "agent-deleted-mid-pagination-letta"


# ---- helpers ------------------------------------------------------------------------------


def base_url(server):
    return server.url + "/letta"


def headers(session=None, variant=VARIANT, token=TOKEN):
    h = {}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    if session is not None:
        h["X-Understudy-Session"] = session
    if variant is not None:
        h["X-Understudy-Variant"] = variant
    return h


def raw_get(server, path, params=(), session=None, variant=VARIANT, token=TOKEN):
    """GET with urllib: (status, json body)."""
    query = urllib.parse.urlencode(list(params))
    url = base_url(server) + path + ("?" + query if query else "")
    status, _, body = request_json(url, headers=headers(session, variant, token))
    return status, body


def raw_walk(server, limit, params=(), session=None, variant=VARIANT):
    """Walk the agent list by hand the way the vendor documents it: after=<last id> until an
    empty page. Returns the agents (raw JSON) in order."""
    agents, after = [], None
    for _ in range(10_000):
        p = [("limit", limit), *params] + ([("after", after)] if after else [])
        status, page = raw_get(server, "/v1/agents/", p, session=session, variant=variant)
        assert status == 200, page
        assert isinstance(page, list)
        if not page:
            return agents
        agents += page
        after = page[-1]["id"]
    raise AssertionError("the raw walk did not end")


class Recorder:
    """httpx event hooks: what the client actually sent and got."""

    def __init__(self):
        self.requests = []

    def hook(self, response):
        response.read()
        self.requests.append((response.request, response.status_code, response.json()))


def client(server, session=None, variant=VARIANT, strict=False, api_key=TOKEN, recorder=None, **kw):
    default_headers = {}
    if session is not None:
        default_headers["X-Understudy-Session"] = session
    if variant is not None:
        default_headers["X-Understudy-Variant"] = variant
    http_client = None
    if recorder is not None:
        http_client = letta_client.DefaultHttpxClient(event_hooks={"response": [recorder.hook]})
    return Letta(
        api_key=api_key,
        base_url=base_url(server),
        default_headers=default_headers,
        http_client=http_client,
        _strict_response_validation=strict,
        **kw,
    )


@pytest.fixture(scope="module")
def all_agents(understudy):
    """Every agent, default order, by a raw walk (with the variant header)."""
    agents = raw_walk(understudy, 50)
    assert len(agents) > 20, "the dataset is expected to span several pages"
    return agents


def same(a, b):
    """JSON equality, where two strings that are the same instant count as equal (pydantic
    writes 2026-06-29T04:36:25.555000Z for the API's 2026-06-29T04:36:25.555Z)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, str) and isinstance(b, str) and a != b:
        try:
            return datetime.fromisoformat(a) == datetime.fromisoformat(b)
        except ValueError:
            return False
    return a == b and type(a) is type(b)


def view(model):
    """The client's view of a response object, as JSON (the keys the API sent)."""
    return model.to_dict(mode="json", warnings=False)


def sample(agents, n=12):
    step = max(1, len(agents) // n)
    return agents[::step]


# ---- listing ------------------------------------------------------------------------------


def test_list_auto_paginates_every_agent_once_in_order(understudy, all_agents):
    rec = Recorder()
    c = client(understudy, recorder=rec)
    limit = 9
    ids = [a.id for a in c.agents.list(limit=limit)]

    assert ids == [a["id"] for a in all_agents]
    assert len(ids) == len(set(ids))

    # What the client sent: limit every time, after=<last id of the previous page> from the
    # 2nd request on, and it stopped on the first empty page.
    sent = [(dict(r.url.params), status, body) for r, status, body in rec.requests]
    assert all(status == 200 for _, status, _ in sent)
    assert len(sent) == -(-len(ids) // limit) + 1
    assert "after" not in sent[0][0]
    for (prev_q, _, prev_body), (q, _, _) in zip(sent, sent[1:]):
        assert q["limit"] == str(limit)
        assert q["after"] == prev_body[-1]["id"]
    assert sent[-1][2] == []
    assert all(len(body) == limit for _, _, body in sent[:-2])


def test_list_default_page_size(understudy, all_agents):
    rec = Recorder()
    ids = [a.id for a in client(understudy, recorder=rec).agents.list()]
    assert ids == [a["id"] for a in all_agents]
    # No limit sent: the server's default page size (the spec's 50).
    first = rec.requests[0]
    assert "limit" not in first[0].url.params
    assert len(first[2]) == min(50, len(all_agents))


def test_list_ascending_is_the_reverse(understudy, all_agents):
    ids = [a.id for a in client(understudy).agents.list(order="asc", limit=25)]
    # Ties are broken by id in the same direction, so asc is exactly desc reversed.
    assert ids == [a["id"] for a in reversed(all_agents)]


def test_list_items_equal_raw_items(understudy, all_agents):
    items = list(client(understudy).agents.list(limit=40))
    assert len(items) == len(all_agents)
    for item, raw in zip(items, all_agents):
        assert same(view(item), raw)


def test_list_include_and_filters_through_the_client(understudy, all_agents):
    c = client(understudy)
    # include is a repeated array parameter; relational fields are empty unless included.
    plain = list(c.agents.list(limit=50))
    included = list(c.agents.list(limit=50, include=["agent.tools", "agent.tags"]))
    assert [a.id for a in included] == [a.id for a in plain]
    assert all(a.tools == [] and a.tags == [] for a in plain)
    assert any(a.tools for a in included) and any(a.tags for a in included)
    status, raw = raw_get(understudy, "/v1/agents/", [("limit", 50), ("include", "agent.tools"), ("include", "agent.tags")])
    assert status == 200
    assert same([view(a) for a in included[:50]], raw)

    # tags (repeated key) filter: every listed agent has one of the tags; none is missed.
    tagged = [a for a in included if a.tags]
    tag = tagged[0].tags[0]
    got = {a.id for a in c.agents.list(tags=[tag], include=["agent.tags"], limit=10)}
    assert got == {a.id for a in included if tag in a.tags}


# ---- get by id ----------------------------------------------------------------------------


def test_retrieve_matches_list_items(understudy, all_agents):
    c = client(understudy)
    listed = {a.id: a for a in c.agents.list(limit=100)}
    for raw in sample(all_agents):
        got = c.agents.retrieve(raw["id"])
        assert got.id == raw["id"]
        assert view(got) == view(listed[raw["id"]])
        assert same(view(got), raw)


def test_not_found(understudy, all_agents):
    unknown = "agent-" + str(uuid.uuid4())
    assert unknown not in {a["id"] for a in all_agents}
    with pytest.raises(letta_client.NotFoundError) as err:
        client(understudy).agents.retrieve(unknown)
    assert err.value.status_code == 404
    assert isinstance(err.value.body, dict) and isinstance(err.value.body["detail"], str)


# ---- bad parameters -----------------------------------------------------------------------


def _assert_422_names(err, location, param):
    assert err.value.status_code == 422
    detail = err.value.body["detail"]
    assert isinstance(detail, list) and detail
    assert [location, param] in [d["loc"] for d in detail], detail


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_limit_out_of_range(understudy, limit):
    with pytest.raises(letta_client.UnprocessableEntityError) as err:
        client(understudy).agents.list(limit=limit)
    _assert_422_names(err, "query", "limit")


def test_bad_enum_value(understudy):
    # The client types order_by as a Literal but sends whatever it is given.
    with pytest.raises(letta_client.UnprocessableEntityError) as err:
        client(understudy).agents.list(order_by="name")  # type: ignore[arg-type]
    _assert_422_names(err, "query", "order_by")


@pytest.mark.parametrize("bad_id", ["agent-not-a-uuid", "12345", "agent-" + str(uuid.uuid4()).upper()])
def test_malformed_id(understudy, bad_id):
    with pytest.raises(letta_client.UnprocessableEntityError) as err:
        client(understudy).agents.retrieve(bad_id)
    _assert_422_names(err, "path", "agent_id")


# ---- credentials --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A second server that accepts only the listed tokens."""
    yield from served_with_tokens(tmp_path_factory, ["sk-let-good agents:read", "sk-let-nothing -"])


def test_unauthorized(guarded, monkeypatch):
    monkeypatch.delenv("LETTA_API_KEY", raising=False)
    assert [a.id for a in client(guarded, api_key="sk-let-good").agents.list(limit=5)][:1]

    with pytest.raises(letta_client.AuthenticationError) as err:
        client(guarded, api_key="sk-let-wrong").agents.list(limit=5)
    assert err.value.status_code == 401
    assert isinstance(err.value.body["detail"], str)

    with pytest.raises(letta_client.AuthenticationError):
        client(guarded, api_key="sk-let-wrong").agents.retrieve("agent-" + str(uuid.uuid4()))

    # No key at all: the client sends no Authorization header.
    with pytest.raises(letta_client.AuthenticationError):
        client(guarded, api_key=None).agents.list()

    with pytest.raises(letta_client.PermissionDeniedError) as err:
        client(guarded, api_key="sk-let-nothing").agents.list()
    assert err.value.status_code == 403


# ---- the document's shape and the sdk variant --------------------------------------------


def test_document_shape_without_the_variant(understudy, all_agents):
    """Without the header, understudy serves the document: `model`/`embedding` are objects,
    and they are the only fields the client's strict validation refuses."""
    status, page = raw_get(understudy, "/v1/agents/", [("limit", 5)], variant=None)
    assert status == 200
    for a in page:
        assert isinstance(a["model"], dict) and a["model"]["handle"] == a["llm_config"]["handle"]
        assert isinstance(a["embedding"], dict)
        assert a["embedding"]["handle"] == a["embedding_config"]["handle"]

    strict = client(understudy, variant=None, strict=True)
    with pytest.raises(letta_client.APIResponseValidationError) as err:
        strict.agents.retrieve(page[0]["id"])
    cause = err.value.__cause__
    assert isinstance(cause, pydantic.ValidationError)
    assert {e["loc"] for e in cause.errors()} == {("model",), ("embedding",)}


def test_sdk_variant_shape(understudy, all_agents):
    """With `X-Understudy-Variant: sdk`, model/embedding are the handle strings, derived from
    llm_config/embedding_config; every other field is the document's."""
    _, plain = raw_get(understudy, "/v1/agents/", [("limit", 20)], variant=None)
    _, sdk = raw_get(understudy, "/v1/agents/", [("limit", 20)], variant=VARIANT)
    assert [a["id"] for a in sdk] == [a["id"] for a in plain]
    for p, s in zip(plain, sdk):
        assert isinstance(s["model"], str) and s["model"] == p["llm_config"]["handle"]
        assert isinstance(s["embedding"], str) and s["embedding"] == p["embedding_config"]["handle"]
        assert {k: v for k, v in s.items() if k not in ("model", "embedding")} == {
            k: v for k, v in p.items() if k not in ("model", "embedding")
        }


def test_strict_validation_with_the_sdk_variant(understudy, all_agents):
    """Every agent passes the client's own pydantic models: retrieve through the strict client,
    and each list item (the client does not validate list pages itself)."""
    for raw in all_agents:
        AgentState.model_validate(raw)
        assert isinstance(raw["model"], str) and isinstance(raw["embedding"], str)

    strict = client(understudy, strict=True)
    for raw in all_agents:
        a = strict.agents.retrieve(raw["id"])
        assert a.model == a.llm_config.handle
        assert a.embedding == a.embedding_config.handle

    # With every relational field included too.
    include = ["agent.blocks", "agent.identities", "agent.managed_group", "agent.secrets",
               "agent.sources", "agent.tags", "agent.tools"]
    for raw in sample(all_agents):
        strict.agents.retrieve(raw["id"], include=include)
    full = raw_walk(understudy, 100, params=[("include", i) for i in include])
    assert [a["id"] for a in full] == [a["id"] for a in all_agents]
    for raw in full:
        AgentState.model_validate(raw)


def test_variant_per_mount():
    """`serve --variant letta=sdk` serves the sdk shape without the header."""
    server = Understudy("--variant", "letta=sdk")
    try:
        status, page = raw_get(server, "/v1/agents/", [("limit", 5)], variant=None)
        assert status == 200
        for a in page:
            assert isinstance(a["model"], str) and a["model"] == a["llm_config"]["handle"]
            assert isinstance(a["embedding"], str) and a["embedding"] == a["embedding_config"]["handle"]
        strict = client(server, variant=None, strict=True)
        assert [a.id for a in strict.agents.list(limit=5)][:1] == [page[0]["id"]]
        strict.agents.retrieve(page[0]["id"])
    finally:
        server.stop()
    assert server.violations() == [], "".join(server.violations())


def test_configuration_from_the_environment(understudy, all_agents, monkeypatch, session_id):
    """LETTA_BASE_URL and LETTA_API_KEY configure the client; LETTA_CUSTOM_HEADERS ("Name:
    value" lines) is how a user selects the variant without touching code."""
    monkeypatch.setenv("LETTA_BASE_URL", base_url(understudy))
    monkeypatch.setenv("LETTA_API_KEY", TOKEN)
    monkeypatch.delenv("LETTA_CUSTOM_HEADERS", raising=False)
    plain = Letta()
    assert str(plain.base_url).rstrip("/") == base_url(understudy)
    assert plain.agents.retrieve(all_agents[0]["id"]).id == all_agents[0]["id"]

    monkeypatch.setenv(
        "LETTA_CUSTOM_HEADERS", f"X-Understudy-Variant: {VARIANT}\nX-Understudy-Session: {session_id}"
    )
    strict = Letta(_strict_response_validation=True)
    a = strict.agents.retrieve(all_agents[0]["id"])
    assert isinstance(a.model, str) and a.model == a.llm_config.handle


# ---- scenario: agents deleted mid-pagination ---------------------------------------------


def _deleted_ids(server, baseline):
    """Which agents the scenario deletes (the dataset decides): run it in a throw-away session
    and diff a full listing against the baseline."""
    probe = "letta-probe-" + uuid.uuid4().hex[:8]
    admin(server, "POST", f"/scenarios/{DELETED_SCENARIO}/start", probe)
    # Two list requests fire the step (it triggers on the 2nd); then a full walk.
    raw_get(server, "/v1/agents/", [("limit", 1)], session=probe)
    raw_get(server, "/v1/agents/", [("limit", 1)], session=probe)
    after = raw_walk(server, 100, session=probe)
    state = admin(server, "GET", "/state", probe)
    admin(server, "POST", "/reset", probe)
    gone = [a["id"] for a in baseline if a["id"] not in {b["id"] for b in after}]
    assert state["changes"]["letta"]["deleted"] == len(gone)
    assert [a["id"] for a in after] == [a["id"] for a in baseline if a["id"] not in gone]
    return gone


@pytest.fixture(scope="module")
def deleted(understudy, all_agents):
    gone = _deleted_ids(understudy, all_agents)
    assert gone, "the scenario deletes agents"
    return gone


def test_deleted_mid_pagination_walk_through_the_client(understudy, all_agents, deleted, session_id):
    ids = [a["id"] for a in all_agents]
    pos = sorted(ids.index(d) for d in deleted)
    # A page size whose first page does not end on a deleted agent; best, one whose first
    # page already returned one deleted agent while another is still ahead of the cursor when
    # the deletion fires (just before the 2nd request): both cases in one walk.
    fits = [n for n in range(2, len(ids)) if n - 1 not in pos]
    both = [n for n in fits if pos[0] < n <= pos[-1]]
    ahead = [n for n in fits if pos[-1] >= n]
    limit = (both or ahead or fits)[0]
    admin(understudy, "POST", f"/scenarios/{DELETED_SCENARIO}/start", session_id)

    rec = Recorder()
    c = client(understudy, session=session_id, recorder=rec)
    walked = [a.id for a in c.agents.list(limit=limit)]

    page1 = ids[:limit]
    survivors = [i for i in ids if i not in deleted]
    # Every surviving agent exactly once, in order; a deleted agent shows up only if page 1
    # had already returned it before the deletion.
    assert len(walked) == len(set(walked))
    assert [i for i in walked if i not in deleted] == survivors
    assert [i for i in walked if i in deleted] == [d for d in deleted if d in page1]
    assert [i for i in deleted if i not in page1 and i in walked] == []
    assert rec.requests[-1][2] == []

    state = admin(understudy, "GET", "/state", session_id)
    assert state["changes"]["letta"]["deleted"] == len(deleted)

    # After the deletion, the client sees them as gone.
    for d in deleted:
        with pytest.raises(letta_client.NotFoundError):
            c.agents.retrieve(d)
    # Another session is untouched.
    assert client(understudy, session="other-" + session_id).agents.retrieve(deleted[0]).id == deleted[0]


def test_deleted_cursor_restarts_the_walk(understudy, all_agents, deleted, session_id):
    """When page 1 ends on a deleted agent, its id is an unknown cursor and is ignored (as the
    vendor's server does): page 2 starts over, so the client's naive auto-pagination repeats
    page 1's survivors once, and still ends with every survivor."""
    ids = [a["id"] for a in all_agents]
    limit = ids.index(deleted[-1]) + 1
    admin(understudy, "POST", f"/scenarios/{DELETED_SCENARIO}/start", session_id)
    walked = [a.id for a in client(understudy, session=session_id).agents.list(limit=limit)]

    page1 = ids[:limit]
    survivors = [i for i in ids if i not in deleted]
    assert walked[:limit] == page1
    rest = walked[limit:]
    assert rest == survivors, "the walk restarts from the top and then covers every survivor once"
    assert set(walked) == set(survivors) | set(page1)


# ---- the TypeScript client ----------------------------------------------------------------


def test_npm_client(understudy, all_agents, session_id):
    """Runs tests/clients/letta-npm/test.mjs with node's test runner against this server."""
    node = shutil.which("node")
    assert node, "node is needed for the @letta-ai/letta-client suite"
    if not (NPM_DIR / "node_modules" / "@letta-ai" / "letta-client" / "package.json").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NPM_DIR, check=True, timeout=300)
    env = dict(
        os.environ,
        LETTA_BASE_URL=base_url(understudy),
        LETTA_API_KEY=TOKEN,
        UNDERSTUDY_SESSION=session_id,
        UNDERSTUDY_VARIANT=VARIANT,
        UNDERSTUDY_EXPECTED_IDS=",".join(a["id"] for a in all_agents),
    )
    proc = subprocess.run(
        [node, "--test", "--test-reporter=tap", "test.mjs"],
        cwd=NPM_DIR, env=env, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "# fail 0" in out, out
    passed = int(next(l.split()[-1] for l in out.splitlines() if l.startswith("# pass")))
    assert passed >= 5, out
