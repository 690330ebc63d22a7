"""Everruns through its official Python client (PyPI `everruns-sdk`, pinned in .ci), against
understudy.

Facts about the client this suite relies on (read from everruns-sdk 0.3.1's installed source):
- `Everruns(api_key=None, base_url=None, org_id=None)`: the key falls back to
  `EVERRUNS_API_KEY`, the base URL to `EVERRUNS_API_URL`, then `https://app.everruns.com/api`;
  `org_id` to `EVERRUNS_ORG_ID` (sent as `X-Org-Id`). Requests go to `{base_url}/v1/...`.
  The key is sent raw: `Authorization: evr_pat_...` (no scheme). There is no option for extra
  headers. The client is async (httpx.AsyncClient, timeout 30 s).
- `agents.list(search=None)` makes one request, `GET /v1/agents[?search=TEXT]` (the text is
  appended without URL-encoding), and returns the `data` array: it does not paginate.
  `agents.get(id)` is `GET /v1/agents/{id}`. `Agent` requires `id`, `name`, `system_prompt`,
  `harness_id`, `status` (`active|archived|deleted`), `created_at`, `updated_at`.
- Errors: 401 `AuthenticationError`, 404 `NotFoundError`, 429 `RateLimitError`, any other status
  the base `ApiError` (`status_code`, `code`, `message`); all derive from `EverrunsError`. With
  the vendor's `{"error": "text"}` body, `code` is "unknown" and `message` the text. No retries
  on list/get (only tool-result submission retries a 409).
"""

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import Understudy, admin, request_json, served_with_tokens
from everruns_sdk import ApiError, AuthenticationError, Everruns, NotFoundError, RateLimitError

KEY = "evr_pat_clients_suite_1"


def base(server):
    return server.url + "/everruns"


def run(coro_fn, server, api_key=KEY):
    """Run `coro_fn(client)` with a fresh client (the SDK is async)."""

    async def go():
        async with Everruns(api_key=api_key, base_url=base(server)) as c:
            return await coro_fn(c)

    return asyncio.run(go())


def raw(server, path, params=None, authorization=KEY):
    url = base(server) + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    headers = {"Authorization": authorization} if authorization else {}
    status, _, body = request_json(url, headers=headers)
    return status, body


def raw_list(server, **params):
    status, body = raw(server, "/v1/agents", params)
    assert status == 200, body
    return body["data"]


def dump(model):
    return model.model_dump(mode="json", exclude_none=True)


# --- listing and getting ------------------------------------------------------------------


def test_client_lists_every_active_agent_exactly_once(understudy):
    listed = run(lambda c: c.agents.list(), understudy)
    raw_agents = raw_list(understudy)
    ids = [a.id for a in listed]
    assert len(ids) == len(set(ids)) == len(raw_agents) > 0
    assert ids == [a["id"] for a in raw_agents]
    assert {a.status for a in listed} == {"active"}
    for a, item in zip(listed, raw_agents):
        assert a.harness_id == item["harness_id"]
        assert a.harness_id.startswith("harness_") and len(a.harness_id) == len("harness_") + 32
        assert a.name == item["name"] and a.system_prompt == item["system_prompt"]


def test_get_by_id_matches_the_list(understudy):
    async def go(c):
        listed = await c.agents.list()
        sample = listed[:: max(1, len(listed) // 10)]
        return [(a, await c.agents.get(a.id)) for a in sample]

    pairs = run(go, understudy)
    assert len(pairs) >= 8
    for listed, got in pairs:
        assert dump(got) == dump(listed)


def test_unknown_id_raises_not_found(understudy):
    missing = "agent_" + "0" * 32
    with pytest.raises(NotFoundError) as e:
        run(lambda c: c.agents.get(missing), understudy)
    assert e.value.status_code == 404
    assert missing in e.value.message


def test_malformed_id_is_not_found(understudy):
    # The client can send nothing a list or get would refuse as a bad parameter: `search` is
    # free text and the id is a path segment. The vendor's server resolves the segment as an
    # id or else as a name, so a malformed id is a 404, not a 400.
    with pytest.raises(NotFoundError) as e:
        run(lambda c: c.agents.get("Not-An-Agent-Id"), understudy)
    assert e.value.status_code == 404


def test_malformed_key_raises_authentication_error(understudy):
    # `evr_` keys are letters, digits and underscores; a hyphen makes the credential malformed.
    with pytest.raises(AuthenticationError) as e:
        run(lambda c: c.agents.list(), understudy, api_key="evr-pat-malformed")
    assert e.value.status_code == 401


# --- search -------------------------------------------------------------------------------

SEARCH_TERMS = ["support", "RESEARCH", "Copilot", "ticket", "an agent", "no such text"]


def oracle(agents, text):
    """The vendor's search: every one of the first 8 words in the name or the description."""
    words = text.lower().split()[:8]
    fields = lambda a: (a["name"].lower(), (a["description"] or "").lower())
    return [a["id"] for a in agents if all(any(w in f for f in fields(a)) for w in words)]


def search(server, text):
    return [a.id for a in run(lambda c: c.agents.list(search=text), server)]


def test_search_through_the_client_is_the_raw_search(understudy):
    for text in SEARCH_TERMS:
        found = search(understudy, text)
        assert found == [a["id"] for a in raw_list(understudy, search=text)], text
    assert search(understudy, "no such text") == []


def test_search_returns_exactly_the_agents_whose_name_or_description_contains_the_text(understudy):
    agents = raw_list(understudy)
    description_only = 0
    for text in SEARCH_TERMS:
        expected = oracle(agents, text)
        description_only += len(set(expected) - {a["id"] for a in agents if text.lower() in a["name"].lower()})
        assert search(understudy, text) == expected, text
    assert description_only > 0


# The vendor's server splits the search text at whitespace (at most 8 words) and keeps an agent
# when every word occurs in its name or description (everruns server, storage/memory:
# matches_search_tokens).
def test_search_matches_every_word_anywhere_like_the_vendor(understudy):
    agents = raw_list(understudy)
    for text in ["assistant research", "agent  support"]:
        expected = oracle(agents, text)
        assert expected, text
        assert search(understudy, text) == expected, text


# --- credentials --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A second server that accepts only listed tokens."""
    yield from served_with_tokens(tmp_path_factory, [KEY, "evr_ak_without_permissions -"])


@pytest.mark.parametrize("form", ["{}", "ApiKey {}", "Bearer {}"])
def test_every_credential_form_carries_the_same_token(guarded, form):
    assert raw(guarded, "/v1/agents", authorization=form.format(KEY))[0] == 200
    status, body = raw(guarded, "/v1/agents", authorization=form.format("evr_pat_not_listed_9"))
    assert status == 401 and body["error"]


def test_listed_key_works_through_the_client(guarded):
    listed = run(lambda c: c.agents.list(), guarded)
    assert [a.id for a in listed] == [a["id"] for a in raw_list(guarded)]


def test_wrong_key_raises_authentication_error(guarded):
    for call in (lambda c: c.agents.list(), lambda c: c.agents.get("agent_" + "1" * 32)):
        with pytest.raises(AuthenticationError) as e:
            run(call, guarded, api_key="evr_pat_wrong_key_2")
        assert e.value.status_code == 401


def test_key_without_permission_raises_api_error_403(guarded):
    with pytest.raises(ApiError) as e:
        run(lambda c: c.agents.list(), guarded, api_key="evr_ak_without_permissions")
    assert type(e.value) is ApiError and e.value.status_code == 403


# --- scenarios ----------------------------------------------------------------------------
# The client cannot add headers, so each scenario test gets its own server and drives the
# `default` session, which requests without X-Understudy-Session use.


@pytest.fixture
def fresh():
    server = Understudy()
    yield server
    server.stop()
    assert server.violations() == [], "".join(server.violations())


def test_outage_surfaces_500_then_recovers(fresh):
    admin(fresh, "POST", "/scenarios/outage/start", "default")
    before = run(lambda c: c.agents.list(), fresh)
    assert before
    one = before[0].id

    admin(fresh, "POST", "/clock/advance", "default", {"by": "10s"})
    for call in (lambda c: c.agents.list(), lambda c: c.agents.get(one)):
        with pytest.raises(ApiError) as e:
            run(call, fresh)
        assert type(e.value) is ApiError, type(e.value)
        assert e.value.status_code == 500
        assert e.value.message == "upstream database unavailable"
    assert not isinstance(e.value, (AuthenticationError, NotFoundError, RateLimitError))

    admin(fresh, "POST", "/clock/advance", "default", {"by": "30s"})
    with pytest.raises(ApiError):
        run(lambda c: c.agents.list(), fresh)

    admin(fresh, "POST", "/clock/advance", "default", {"by": "30s"})
    after = run(lambda c: c.agents.list(), fresh)
    assert [dump(a) for a in after] == [dump(a) for a in before]
    assert run(lambda c: c.agents.get(one), fresh).id == one


def test_archived_agent_leaves_the_list_but_get_still_returns_it(fresh):
    admin(fresh, "POST", "/scenarios/archived-agent/start", "default")
    before = {a.id: a for a in run(lambda c: c.agents.list(), fresh)}
    admin(fresh, "POST", "/scenarios/archived-agent/next", "default")
    after = {a.id: a for a in run(lambda c: c.agents.list(), fresh)}

    gone = set(before) - set(after)
    assert len(gone) == 1 and set(after) < set(before)
    (archived_id,) = gone
    assert before[archived_id].status == "active"
    got = run(lambda c: c.agents.get(archived_id), fresh)
    assert got.status == "archived"
    assert got.updated_at == "2026-11-01T00:00:00.000Z"
    assert got.harness_id == before[archived_id].harness_id
    for agent_id, a in after.items():
        assert dump(a) == dump(before[agent_id])
