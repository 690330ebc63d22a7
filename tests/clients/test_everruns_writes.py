"""Everruns writes (issue 10) through the official client (PyPI `everruns-sdk` 0.3.1), against
understudy. DRAFT: needs the write operations of /work/notes/writes/everruns.yaml in
specs/everruns.yaml; goes to tests/clients/.

Facts this suite relies on (everruns-sdk 0.3.1's installed source, everruns_sdk/client.py):
- `agents.create(name, system_prompt, *, display_name, description, default_model_id, tags,
  capabilities, tools, initial_files, harness_id, harness_name, parallel_tool_calls)` ->
  POST /v1/agents with those fields, None left out and the lists always sent (`[]`); it checks
  the name first (`[a-z0-9]+(-[a-z0-9]+)*`, at most 64 characters: ValueError, nothing sent)
  and parses the answer as `Agent` (requires id, name, system_prompt, harness_id, status in
  active|archived|deleted, created_at, updated_at).
- `agents.apply(id, name, system_prompt, ...)` and `apply_by_name(...)`: documented as upserts,
  but they POST to /v1/agents too (apply with `id` in the body). There is no `agents.update`:
  PATCH /v1/agents/{id} is sent with raw HTTP here.
- `agents.delete(id)` -> DELETE /v1/agents/{id}; any 2xx is success (the vendor answers 204).
- Errors: 401 AuthenticationError, 404 NotFoundError, 429 RateLimitError, else ApiError with
  `status_code`.
- The client has no option for extra headers; its httpx client's default headers are mutable,
  so each test adds `X-Understudy-Session` there (`client._client.headers`) and gets its own
  session. Nothing else of the client is changed.
"""

import asyncio
import re
import urllib.parse

import pytest

from conftest import admin, request_json
from everruns_sdk import ApiError, Everruns, NotFoundError
from everruns_sdk.models import AgentCapabilityConfig

KEY = "evr_pat_writes_suite_1"
AGENT_ID = r"agent_[0-9a-f]{32}"
HARNESS_ID = r"harness_[0-9a-f]{32}"


def base(server):
    return server.url + "/everruns"


def run(coro_fn, server, session):
    """`coro_fn(client)` with a fresh client whose requests carry the session."""

    async def go():
        async with Everruns(api_key=KEY, base_url=base(server)) as c:
            c._client.headers["X-Understudy-Session"] = session
            return await coro_fn(c)

    return asyncio.run(go())


def raw(server, session, method, path, body=None, params=None):
    url = base(server) + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    h = {"Authorization": KEY, "X-Understudy-Session": session}
    status, _, parsed = request_json(url, method, h, body)
    return status, parsed


def listed(server, session):
    status, body = raw(server, session, "GET", "/v1/agents")
    assert status == 200, body
    return body["data"]


def now(server, session):
    return admin(server, "GET", "/state", session)["now"]


def dump(model):
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def name_for(session):
    return "writes-" + session.rsplit("-", 1)[-1]


# ---- create, get, list, update, archive ---------------------------------------------------------


def test_create_get_list_update_archive(understudy, session_id):
    s = session_id
    name = name_for(s)
    before = listed(understudy, s)
    t0 = now(understudy, s)

    created = run(
        lambda c: c.agents.create(
            name,
            "You are a test agent.",
            description="Created by the writes suite",
            tags=["writes", "suite"],
            capabilities=[AgentCapabilityConfig(ref="current_time", config={})],
        ),
        understudy, s,
    )
    assert re.fullmatch(AGENT_ID, created.id)
    assert created.name == name and created.system_prompt == "You are a test agent."
    assert created.description == "Created by the writes suite"
    assert created.tags == ["writes", "suite"]
    assert [c.ref for c in created.capabilities] == ["current_time"]
    assert created.status == "active"
    # The organisation's default harness when none is given (and a valid harness id).
    assert re.fullmatch(HARNESS_ID, created.harness_id)
    assert created.created_at == created.updated_at == t0
    assert created.default_model_id is None  # "the system default model"

    got = run(lambda c: c.agents.get(created.id), understudy, s)
    assert dump(got) == dump(created)
    status, body = raw(understudy, s, "GET", f"/v1/agents/{created.id}")
    assert status == 200 and body["id"] == created.id

    after = run(lambda c: c.agents.list(), understudy, s)
    assert [a.id for a in after].count(created.id) == 1
    assert len(after) == len(before) + 1
    assert [a.id for a in run(lambda c: c.agents.list(search=name), understudy, s)] == [created.id]

    # Update (the client has no method for PATCH): only the fields given change.
    status, patched = raw(
        understudy, s, "PATCH", f"/v1/agents/{created.id}",
        {"system_prompt": "You are an updated test agent.", "tags": ["updated"], "description": None},
    )
    assert status == 200, patched
    got = run(lambda c: c.agents.get(created.id), understudy, s)
    assert got.system_prompt == "You are an updated test agent."
    assert got.tags == ["updated"]
    assert got.description == "Created by the writes suite"  # null leaves a field unchanged
    assert got.name == name and got.created_at == t0 and got.updated_at > t0
    # The PATCH answered the agent as a GET now shows it.
    assert patched["id"] == got.id and patched["updated_at"] == got.updated_at
    assert patched["system_prompt"] == got.system_prompt and patched["tags"] == got.tags

    # Archive: gone from the list, still readable, status archived.
    assert run(lambda c: c.agents.delete(created.id), understudy, s) is None
    archived = run(lambda c: c.agents.get(created.id), understudy, s)
    assert archived.status == "archived"
    assert archived.updated_at > got.updated_at
    assert archived.system_prompt == got.system_prompt
    assert created.id not in [a.id for a in run(lambda c: c.agents.list(), understudy, s)]
    assert [a["id"] for a in listed(understudy, s)] == [a["id"] for a in before]
    # Archiving again changes nothing (the current vendor server answers 204).
    status, _ = raw(understudy, s, "DELETE", f"/v1/agents/{created.id}")
    assert status == 204
    assert run(lambda c: c.agents.get(created.id), understudy, s).status == "archived"


def test_unknown_agent_is_not_found(understudy, session_id):
    missing = "agent_" + "0" * 32
    with pytest.raises(NotFoundError):
        run(lambda c: c.agents.delete(missing), understudy, session_id)
    status, body = raw(understudy, session_id, "PATCH", f"/v1/agents/{missing}", {"tags": []})
    assert status == 404 and set(body) == {"error"}
    # Not an agent id at all: the vendor's 400 "Invalid agent ID".
    with pytest.raises(ApiError) as e:
        run(lambda c: c.agents.delete("not-an-id"), understudy, session_id)
    assert type(e.value) is ApiError and e.value.status_code == 400


# ---- invalid bodies ----------------------------------------------------------------------------


def test_oversized_description_raises_api_error_400(understudy, session_id):
    # The server's limit (10 KiB); the client checks nothing of it.
    with pytest.raises(ApiError) as e:
        run(
            lambda c: c.agents.create(name_for(session_id), "p", description="x" * 10241),
            understudy, session_id,
        )
    assert type(e.value) is ApiError and e.value.status_code == 400
    assert name_for(session_id) not in [a["name"] for a in listed(understudy, session_id)]


def test_invalid_name_is_refused_by_client_and_server(understudy, session_id):
    with pytest.raises(ValueError):
        run(lambda c: c.agents.create("Not A Slug", "p"), understudy, session_id)
    status, body = raw(
        understudy, session_id, "POST", "/v1/agents", {"name": "Not A Slug", "system_prompt": "p"}
    )
    assert status == 400 and set(body) == {"error"}
    status, body = raw(understudy, session_id, "POST", "/v1/agents", {"name": "no-prompt"})
    assert status == 400 and "system_prompt" in body["error"]


def test_taken_client_id_is_a_conflict(understudy, session_id):
    existing = listed(understudy, session_id)[0]["id"]
    with pytest.raises(ApiError) as e:
        run(lambda c: c.agents.apply(existing, name_for(session_id), "p"), understudy, session_id)
    assert e.value.status_code == 409
    # A free id is the client's: the agent is created under it.
    mine = "agent_" + session_id.rsplit("-", 1)[-1].rjust(32, "0")[-32:]
    made = run(lambda c: c.agents.apply(mine, name_for(session_id), "p"), understudy, session_id)
    assert made.id == mine
    assert run(lambda c: c.agents.get(mine), understudy, session_id).id == mine


# ---- sessions ----------------------------------------------------------------------------------


def test_sessions_do_not_see_each_other(understudy, session_id):
    a, b = session_id, session_id + "-other"
    made = run(lambda c: c.agents.create(name_for(a), "p"), understudy, a)
    assert made.id in [x["id"] for x in listed(understudy, a)]
    assert made.id not in [x["id"] for x in listed(understudy, b)]
    with pytest.raises(NotFoundError):
        run(lambda c: c.agents.get(made.id), understudy, b)
    # Requests without the header (the `default` session) do not see it either.
    status, _, _ = request_json(
        base(understudy) + f"/v1/agents/{made.id}", headers={"Authorization": KEY}
    )
    assert status == 404
    # An archive in one session leaves the other's copy of a dataset agent active.
    shared = listed(understudy, a)[0]["id"]
    run(lambda c: c.agents.delete(shared), understudy, b)
    assert run(lambda c: c.agents.get(shared), understudy, b).status == "archived"
    assert run(lambda c: c.agents.get(shared), understudy, a).status == "active"
