"""Vectara through its official Python client (PyPI `vectara`, pinned in .ci), against understudy.

Facts about the client this suite relies on (read from vectara 0.4.3's installed source):
- Base URL: `environment=VectaraEnvironment(default=URL, auth=URL)`; the constructor has no
  `base_url` argument (its docstring shows one, the signature does not). Credentials:
  `api_key` (header `x-api-key`, default `VECTARA_API_KEY` read when the module is imported),
  `token` (a callable; `Authorization: Bearer ...`), or `client_id`/`client_secret` (OAuth,
  `VECTARA_CLIENT_ID`/`VECTARA_CLIENT_SECRET`). `headers=` adds headers to every request.
- `agents.list(filter, enabled, limit, page_key)` returns a `SyncPager`; iterating it follows
  `metadata.page_key` until it is absent or empty (or a page is empty).
- Errors: `agents.list` raises `ForbiddenError` for 403 and the base `ApiError` (with
  `status_code`, `headers`, `body`) for every other status; `agents.get` adds `NotFoundError`
  for 404. A 2xx body that does not fit the models raises `ParsingError`.
- Retries (core/http_client.py): statuses 429, 408, 409 and >= 500 are retried, at most
  `max_retries` times (default 2; `request_options={"max_retries": N}`), sleeping with
  `time.sleep` for `Retry-After` seconds when it is a positive number (capped at 60 s), else
  exponential backoff from 1 s with jitter. When the retries are spent the 429 surfaces as the
  base `ApiError` with status 429 (the SDK's `TooManyRequestsError` is not used by agents).
"""

import json
import types
import urllib.error
import urllib.parse
import urllib.request

import pytest

import vectara.core.http_client as vectara_http
from conftest import Understudy, admin, request_json, served_with_tokens
from vectara import Vectara
from vectara.core.api_error import ApiError
from vectara.environment import VectaraEnvironment
from vectara.errors import ForbiddenError, NotFoundError

API_KEY = "zqt_clients_suite"
SCENARIO_START = "2026-11-01T00:00:00.000Z"


def base(server):
    return server.url + "/vectara"


def client(server, api_key=API_KEY, **kwargs):
    url = base(server)
    return Vectara(
        api_key=api_key, environment=VectaraEnvironment(default=url, auth=url), **kwargs
    )


def raw(server, path, params=None, headers=None, api_key=API_KEY):
    """GET with urllib: (status, headers (case-insensitive), parsed body)."""
    url = base(server) + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    h = {"x-api-key": api_key} if api_key else {}
    h.update(headers or {})
    return request_json(url, headers=h)


def raw_walk(server, limit=100, **params):
    """Every agent of a list, following page_key with plain HTTP."""
    agents, key, total = [], None, None
    for _ in range(1000):
        q = dict(params, limit=limit)
        if key:
            q["page_key"] = key
        status, _, body = raw(server, "/v2/agents", q)
        assert status == 200, body
        total = body["metadata"]["total_count"]
        agents.extend(body["agents"])
        key = body["metadata"].get("page_key")
        if not key:
            return agents, total
    raise AssertionError("the raw walk did not end")


def dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


@pytest.fixture(scope="module")
def walked(understudy):
    return raw_walk(understudy)


# --- listing and getting ------------------------------------------------------------------


def test_client_pagination_lists_every_agent_exactly_once(understudy, walked):
    raw_agents, total = walked
    c = client(understudy)
    pager = c.agents.list(limit=7)
    pages = list(pager.iter_pages())
    via_client = [a for p in pages for a in p.items]
    assert len(pages) == -(-total // 7) > 1
    keys = [a.key for a in via_client]
    assert len(keys) == len(set(keys)) == total == len(raw_agents)
    assert keys == [a["id"] for a in raw_agents]


def test_client_pagination_with_filters_matches_raw_walk(understudy):
    raw_agents, total = raw_walk(understudy, limit=3, filter="support.*", enabled="true")
    via_client = list(client(understudy).agents.list(filter="support.*", enabled=True, limit=4))
    assert 0 < total < 137
    assert [a.key for a in via_client] == [a["id"] for a in raw_agents]
    assert all(a.enabled for a in via_client)


def test_every_agent_has_the_fields_the_client_requires_consistently(understudy, walked):
    raw_agents, _ = walked
    models = {a.key: a for a in client(understudy).agents.list(limit=100)}
    for item in raw_agents:
        a = models[item["id"]]
        assert item["key"] == item["id"] == a.key
        # tool_configurations mirrors tools.available: one dynamic_vectara entry per tool,
        # keyed by the tool's name, same id, same bindings.
        tools = item["tools"]["available"]
        assert tools, item["id"]
        assert sorted(a.tool_configurations) == sorted(t["id"].removeprefix("tol_") for t in tools)
        for t in tools:
            conf = a.tool_configurations[t["id"].removeprefix("tol_")]
            assert conf.type == "dynamic_vectara"
            assert conf.tool_id == t["id"]
            assert conf.argument_override == t.get("argument_bindings")
        assert a.first_step.name
        assert a.first_step_name == a.first_step.name == item["first_step"]["name"]
        # The document's fields are still served as the page shows them.
        assert a.first_step.instructions and item["first_step"]["type"] == "conversational"
        assert a.model.name == item["model"]["name"]


def test_get_by_key_matches_the_list(understudy, walked):
    raw_agents, _ = walked
    c = client(understudy)
    listed = {a.key: a for a in c.agents.list(limit=50)}
    sample = raw_agents[:: max(1, len(raw_agents) // 12)]
    assert len(sample) >= 10
    for item in sample:
        got = c.agents.get(item["id"])
        assert dump(got) == dump(listed[item["id"]])
        status, _, body = raw(understudy, "/v2/agents/" + item["id"])
        assert status == 200 and body == item


# --- errors -------------------------------------------------------------------------------


def test_unknown_key_raises_not_found(understudy):
    with pytest.raises(NotFoundError) as e:
        client(understudy).agents.get("agt_no_such_agent_999")
    assert e.value.status_code == 404
    assert e.value.body["id"] == "agt_no_such_agent_999"
    assert e.value.body["messages"][0].startswith("not_found")


@pytest.mark.parametrize(
    "kwargs, param",
    [
        ({"limit": 1000}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page_key": "not-a-page-key"}, "page_key"),
        ({"filter": "(unclosed"}, "filter"),
        ({"filter": "x" * 1001}, "filter"),
    ],
)
def test_bad_parameter_raises_the_clients_api_error_with_status_400(understudy, kwargs, param):
    with pytest.raises(ApiError) as e:
        client(understudy).agents.list(**kwargs)
    # agents.list declares no error type for 400: the client raises its base ApiError.
    assert type(e.value) is ApiError
    assert e.value.status_code == 400
    assert param in e.value.body["field_errors"]
    assert e.value.body["messages"][0].startswith("invalid_request")


def test_page_key_from_another_filter_is_refused(understudy):
    first = client(understudy).agents.list(limit=2, filter="Support")
    key = first.response.metadata.page_key
    assert key
    with pytest.raises(ApiError) as e:
        client(understudy).agents.list(limit=2, filter="Sales", page_key=key)
    assert e.value.status_code == 400 and "page_key" in e.value.body["field_errors"]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A second server that accepts only listed tokens."""
    yield from served_with_tokens(tmp_path_factory, [API_KEY, "zqt_without_permissions -"])


def test_listed_key_and_bearer_token_work_on_the_guarded_server(guarded):
    assert len(client(guarded).agents.list(limit=3).items) == 3
    url = base(guarded)
    oauth = Vectara(
        api_key=None, token=lambda: API_KEY, environment=VectaraEnvironment(default=url, auth=url)
    )
    assert len(oauth.agents.list(limit=3).items) == 3


def test_wrong_key_raises_api_error_with_status_401(guarded):
    c = client(guarded, api_key="zqt_wrong_key")
    with pytest.raises(ApiError) as e:
        c.agents.list()
    assert type(e.value) is ApiError and e.value.status_code == 401
    assert e.value.body["messages"][0].startswith("unauthorized")
    with pytest.raises(ApiError) as e:
        c.agents.get("agt_anything_001")
    # Not a NotFoundError: the credentials are checked first.
    assert type(e.value) is ApiError and e.value.status_code == 401


def test_key_without_permission_raises_forbidden(guarded):
    c = client(guarded, api_key="zqt_without_permissions")
    with pytest.raises(ForbiddenError) as e:
        c.agents.list()
    assert e.value.status_code == 403
    with pytest.raises(ForbiddenError):
        c.agents.get("agt_anything_001")


# --- scenario: rate-limited ---------------------------------------------------------------


class FakeTime:
    """Stands in for the `time` module the client's HTTP layer sleeps with; each sleep can
    advance the session's understudy clock by the same amount instead of waiting."""

    def __init__(self, server, session, advance):
        self.server, self.session, self.advance, self.sleeps = server, session, advance, []
        import time

        self.time = time.time

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        if self.advance:
            admin(self.server, "POST", "/clock/advance", self.session, {"by": f"{seconds:g}s"})


def throttled(server, session, monkeypatch, advance):
    state = admin(server, "POST", "/scenarios/rate-limited/start", session)
    assert state["fired"] == ["throttle"]
    fake = FakeTime(server, session, advance)
    monkeypatch.setattr(vectara_http, "time", fake)
    c = client(server, headers={"X-Understudy-Session": session})
    return c, fake


def test_rate_limited_client_waits_retry_after_then_succeeds(understudy, session_id, monkeypatch):
    status, _, body = raw(understudy, "/v2/agents", {"limit": 5})
    assert status == 200
    expected = [a["id"] for a in body["agents"]]
    c, fake = throttled(understudy, session_id, monkeypatch, advance=True)
    status, headers, body = raw(
        understudy, "/v2/agents", {"limit": 5}, headers={"X-Understudy-Session": session_id}
    )
    assert status == 429 and headers["Retry-After"] == "30"
    assert body["messages"][0].startswith("rate_limit_exceeded")

    page = c.agents.list(limit=5)
    # One 429, one sleep of exactly Retry-After (no jitter on Retry-After), then the retry
    # after the clock moved 30 s succeeds.
    assert fake.sleeps == [30.0]
    assert [a.key for a in page.items] == expected
    state = admin(understudy, "GET", "/state", session_id)
    assert state["clock_ms"] == 30_000
    assert state["scenarios"][0]["fired"] == ["throttle", "recovered"]
    assert c.agents.get(expected[0]).key == expected[0]
    assert fake.sleeps == [30.0]


def test_rate_limited_get_retries_too(understudy, session_id, monkeypatch):
    key = raw(understudy, "/v2/agents", {"limit": 1})[2]["agents"][0]["id"]
    c, fake = throttled(understudy, session_id, monkeypatch, advance=True)
    assert c.agents.get(key).key == key
    assert fake.sleeps == [30.0]


def test_rate_limited_client_gives_up_after_its_retries(understudy, session_id, monkeypatch):
    c, fake = throttled(understudy, session_id, monkeypatch, advance=False)
    with pytest.raises(ApiError) as e:
        c.agents.list(limit=5)
    # Default max_retries is 2: three requests, two sleeps of Retry-After, then the 429.
    assert fake.sleeps == [30.0, 30.0]
    assert type(e.value) is ApiError and e.value.status_code == 429
    assert e.value.headers["retry-after"] == "30"
    assert e.value.body["messages"][0].startswith("rate_limit_exceeded")
    assert admin(understudy, "GET", "/state", session_id)["clock_ms"] == 0


def test_rate_limited_without_retries_surfaces_429_at_once(understudy, session_id, monkeypatch):
    c, fake = throttled(understudy, session_id, monkeypatch, advance=True)
    with pytest.raises(ApiError) as e:
        c.agents.list(limit=5, request_options={"max_retries": 0})
    assert fake.sleeps == []
    assert e.value.status_code == 429
    # Other sessions are not throttled.
    assert len(client(understudy).agents.list(limit=5).items) == 5
