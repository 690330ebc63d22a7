"""Vectara's writes (issue 10) through the official Python client, PyPI `vectara` 0.4.3, against
understudy: create -> get -> list -> update -> replace -> delete, bad bodies, duplicate and
unknown keys, permissions, and sessions that do not see each other's writes.

Draft: needs the write engine and the spec additions in /work/notes/writes/vectara.yaml. Place
it in tests/clients/ beside test_vectara.py.

What the client does (vectara/agents/raw_client.py, 0.4.3):
- agents.create(name, tool_configurations, model, key=, description=, first_step=,
  first_step_name=, steps=, skills=, metadata=, enabled=, compaction=, tool_output_offloading=)
  -> POST v2/agents with the given fields only (OMIT drops the others; None is sent as null);
  any 2xx is parsed as Agent (pydantic: key, name, tool_configurations (a union on `type`;
  dynamic_vectara/mcp/lambda need tool_id, corpora_search query_configuration), model.name,
  first_step.name/instructions/output_parser, enabled are required) or ParsingError;
  400 BadRequestError, 403 ForbiddenError, anything else ApiError.
- agents.update(agent_key, ...) -> PATCH v2/agents/{key}; agents.replace(agent_key, name,
  tool_configurations, model, ...) -> PUT v2/agents/{key}: 400 BadRequestError, 403, 404
  NotFoundError.
- agents.delete(agent_key) -> DELETE v2/agents/{key}: any 2xx returns None without reading the
  body; 403, 404 NotFoundError.
- 408, 409, 429 and >= 500 are retried (max_retries 2, backoff from 1 s): the tests pass
  max_retries 0 where a refusal is expected, so that a 409 would surface at once.
"""

import re
import urllib.parse
import uuid

import pytest

from conftest import request_json, served_with_tokens
from vectara import Vectara
from vectara.core.api_error import ApiError
from vectara.environment import VectaraEnvironment
from vectara.errors import BadRequestError, ForbiddenError, NotFoundError

API_KEY = "zqt_writes_suite"
NO_RETRY = {"max_retries": 0}

TOOLS = {
    "knowledge_search": {
        "type": "dynamic_vectara",
        "tool_id": "tol_knowledge_search",
        "argument_override": {"max_results": 10},
    },
    "web_search": {"type": "web_search", "argument_override": {"limit": 5}},
}
MODEL = {"name": "gpt-4o", "parameters": {"temperature": 0.2, "max_tokens": 1000}}
FIRST_STEP = {
    "name": "first_step",
    "type": "conversational",
    "instructions": [{"type": "reference", "id": "ins_writes_init", "version": 1}],
    "output_parser": {"type": "default"},
}


# ---- helpers ------------------------------------------------------------------------------


def base(server):
    return server.url + "/vectara"


def client(server, session, api_key=API_KEY):
    url = base(server)
    return Vectara(
        api_key=api_key,
        environment=VectaraEnvironment(default=url, auth=url),
        headers={"X-Understudy-Session": session},
    )


def raw(server, method, path, session=None, body=None, params=None):
    url = base(server) + path + ("?" + urllib.parse.urlencode(params) if params else "")
    h = {"x-api-key": API_KEY}
    if session is not None:
        h["X-Understudy-Session"] = session
    return request_json(url, method=method, headers=h, body=body)


def dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def keys(c, **params):
    """Every agent key through the client's pager (it follows metadata.page_key)."""
    return [a.key for a in c.agents.list(limit=50, **params)]


def total(server, session, **params):
    status, _, body = raw(server, "GET", "/v2/agents", session, params=dict(params, limit=1))
    assert status == 200, body
    return body["metadata"]["total_count"]


def new_key():
    return "agt_writes_" + uuid.uuid4().hex[:12]


def create(c, key=None, **over):
    fields = dict(
        name="Writes Agent",
        description="Created by the write suite",
        tool_configurations=TOOLS,
        model=MODEL,
        first_step=FIRST_STEP,
        metadata={"suite": "writes"},
        enabled=True,
        request_options=NO_RETRY,
    )
    if key is not None:
        fields["key"] = key
    fields.update(over)
    return c.agents.create(**fields)


def assert_400(err, field):
    assert err.value.status_code == 400
    body = err.value.body
    assert body["messages"][0].startswith("invalid_request"), body
    assert any(k.split(".")[0] == field for k in body["field_errors"]), body


# ---- the whole life of one agent ----------------------------------------------------------


def test_create_get_list_update_replace_delete(understudy, session_id):
    c = client(understudy, session_id)
    before_keys = keys(c)
    before_total = total(understudy, session_id)
    assert before_total == len(before_keys)
    key = new_key()
    marker = key.removeprefix("agt_writes_")

    # create: 201 with the agent under the client's key.
    created = create(c, key, description=f"Created by the write suite ({marker})")
    assert created.key == key
    assert created.name == "Writes Agent"
    assert created.description == f"Created by the write suite ({marker})"
    assert sorted(created.tool_configurations) == ["knowledge_search", "web_search"]
    assert created.tool_configurations["knowledge_search"].tool_id == "tol_knowledge_search"
    assert created.tool_configurations["knowledge_search"].argument_override == {"max_results": 10}
    assert created.model.name == "gpt-4o" and created.model.parameters == MODEL["parameters"]
    assert created.first_step.name == "first_step"
    assert [i.id for i in created.first_step.instructions] == ["ins_writes_init"]
    assert created.metadata == {"suite": "writes"}
    assert created.enabled is True
    assert created.created_at is not None and created.created_at == created.updated_at

    # The raw answer: status 201, `key` and the document's `id` both the client's key.
    status, _, body = raw(understudy, "GET", f"/v2/agents/{key}", session_id)
    assert status == 200 and body["id"] == body["key"] == key
    assert dump(c.agents.get(key)) == dump(created)

    # list through the client's pager: every agent once, the new one last (dataset order,
    # creation sequence), total_count one more.
    after_keys = keys(c)
    assert after_keys.count(key) == 1
    assert after_keys == before_keys + [key]
    assert total(understudy, session_id) == before_total + 1
    assert keys(c, filter=marker) == [key]  # the filter is a regex over name and description
    assert key in keys(c, enabled=True) and key not in keys(c, enabled=False)

    # update (PATCH): given fields change, omitted fields are preserved.
    updated = c.agents.update(
        key,
        description=f"Changed by the write suite ({marker})",
        enabled=False,
        metadata={"suite": "writes", "n": 2},
        request_options=NO_RETRY,
    )
    assert updated.key == key
    assert updated.description == f"Changed by the write suite ({marker})"
    assert updated.enabled is False
    assert updated.metadata == {"suite": "writes", "n": 2}
    assert updated.name == created.name
    assert dump(updated.model) == dump(created.model)
    assert sorted(updated.tool_configurations) == sorted(created.tool_configurations)
    assert updated.created_at == created.created_at and updated.updated_at > created.updated_at
    assert dump(c.agents.get(key)) == dump(updated)
    assert key in keys(c, enabled=False) and key not in keys(c, enabled=True)
    assert keys(c).count(key) == 1

    # replace (PUT): the whole configuration, same key.
    replaced = c.agents.replace(
        key,
        name="Replaced Writes Agent",
        description=f"Replaced by the write suite ({marker})",
        tool_configurations={"web_search": TOOLS["web_search"]},
        model={"name": "claude-3-7-sonnet", "parameters": {"temperature": 0.0}},
        first_step=FIRST_STEP,
        metadata={"suite": "writes", "n": 3},
        enabled=True,
        request_options=NO_RETRY,
    )
    assert replaced.key == key
    assert replaced.name == "Replaced Writes Agent"
    assert list(replaced.tool_configurations) == ["web_search"]
    assert replaced.model.name == "claude-3-7-sonnet"
    assert replaced.metadata == {"suite": "writes", "n": 3} and replaced.enabled is True
    assert replaced.created_at == created.created_at and replaced.updated_at > updated.updated_at
    assert dump(c.agents.get(key)) == dump(replaced)
    assert keys(c, filter="Replaced Writes") == [key]

    # delete: 204, nothing to parse; then gone for every call.
    status, headers, body = raw(understudy, "DELETE", f"/v2/agents/{key}", session_id + "-probe")
    assert status == 404  # (another session: nothing to delete there)
    assert c.agents.delete(key, request_options=NO_RETRY) is None
    with pytest.raises(NotFoundError) as err:
        c.agents.get(key)
    assert err.value.status_code == 404 and err.value.body["id"] == key
    assert err.value.body["messages"][0].startswith("not_found")
    with pytest.raises(NotFoundError):
        c.agents.update(key, name="again", request_options=NO_RETRY)
    with pytest.raises(NotFoundError):
        c.agents.replace(key, name="again", tool_configurations={}, model=MODEL, request_options=NO_RETRY)
    with pytest.raises(NotFoundError):
        c.agents.delete(key, request_options=NO_RETRY)
    assert keys(c) == before_keys
    assert total(understudy, session_id) == before_total


def test_delete_answers_204_without_a_body(understudy, session_id):
    c = client(understudy, session_id)
    key = create(c, new_key()).key
    status, headers, body = raw(understudy, "DELETE", f"/v2/agents/{key}", session_id)
    assert status == 204 and body is None
    status, _, body = raw(understudy, "DELETE", f"/v2/agents/{key}", session_id)
    assert status == 404 and body["id"] == key


def test_create_without_a_key(understudy, session_id):
    """The vendor generates the key ("based on the agent name"); it is the agent's id too."""
    c = client(understudy, session_id)
    created = create(c, name="Keyless Writes Agent")
    assert re.fullmatch(r"agt_[0-9a-zA-Z_-]+", created.key) and len(created.key) <= 50
    status, _, body = raw(understudy, "GET", f"/v2/agents/{created.key}", session_id)
    assert status == 200 and body["id"] == body["key"] == created.key
    assert keys(c).count(created.key) == 1
    # Another keyless agent gets another key.
    assert create(c, name="Keyless Writes Agent").key != created.key


def test_update_and_delete_a_seeded_agent(understudy, session_id):
    c = client(understudy, session_id)
    seeded = keys(c)
    target, victim = seeded[4], seeded[9]
    before = c.agents.get(target)
    after = c.agents.update(target, name="Renamed Seeded Agent", request_options=NO_RETRY)
    assert after.name == "Renamed Seeded Agent" and after.key == target
    assert dump(after.model) == dump(before.model) and after.enabled == before.enabled
    assert keys(c, filter="Renamed Seeded") == [target]
    c.agents.delete(victim)
    assert keys(c) == [k for k in seeded if k != victim]


# ---- refusals -----------------------------------------------------------------------------


def test_duplicate_key_is_refused(understudy, session_id):
    """The vendor documents no 409 for agents: understudy refuses a taken key with its 400."""
    c = client(understudy, session_id)
    key = create(c, new_key()).key
    before = keys(c)
    with pytest.raises(BadRequestError) as err:
        create(c, key, name="Second With Same Key")
    assert err.value.status_code == 400
    assert err.value.body["messages"][0].startswith("invalid_request")
    assert key in err.value.body["messages"][0]
    # A seeded agent's key is taken too.
    with pytest.raises(BadRequestError):
        create(c, before[0])
    assert keys(c) == before
    assert c.agents.get(key).name == "Writes Agent"


@pytest.mark.parametrize(
    "over, field",
    [
        ({"name": ""}, "name"),  # AgentName: 1-50 characters
        ({"name": "x" * 51}, "name"),
        ({"key": "customer_support"}, "key"),  # agt_ prefix (vendor pages' pattern)
        ({"key": "agt_" + "x" * 47}, "key"),  # at most 50 characters
        ({"model": {"parameters": {"temperature": 0.1}}}, "model"),  # model.name required
        ({"tool_configurations": {"t": {"type": "no_such_type"}}}, "tool_configurations"),
        ({"tool_configurations": {"t": {"type": "corpora_search"}}}, "tool_configurations"),
        ({"tool_configurations": {"t": {"type": "dynamic_vectara"}}}, "tool_configurations"),
        ({"first_step": {"name": "s", "instructions": [{"type": "reference"}], "output_parser": {"type": "default"}}}, "first_step"),
        ({"enabled": "yes"}, "enabled"),
        ({"metadata": ["not", "a", "map"]}, "metadata"),
    ],
)
def test_invalid_create_body(understudy, session_id, over, field):
    c = client(understudy, session_id)
    before = total(understudy, session_id)
    over = dict(over)
    key = over.pop("key", new_key())
    with pytest.raises(BadRequestError) as err:
        create(c, key, **over)
    assert_400(err, field)
    assert total(understudy, session_id) == before


def test_invalid_update_and_replace_bodies_change_nothing(understudy, session_id):
    c = client(understudy, session_id)
    key = create(c, new_key()).key
    before = dump(c.agents.get(key))
    with pytest.raises(BadRequestError) as err:
        c.agents.update(key, name="", request_options=NO_RETRY)
    assert_400(err, "name")
    with pytest.raises(BadRequestError) as err:
        c.agents.update(key, tool_configurations={"t": {"type": "mcp"}}, request_options=NO_RETRY)
    assert_400(err, "tool_configurations")
    with pytest.raises(BadRequestError) as err:
        c.agents.replace(key, name="ok", tool_configurations={}, model={"name": 7}, request_options=NO_RETRY)
    assert_400(err, "model")
    assert dump(c.agents.get(key)) == before


def test_unknown_key_on_update_replace_delete(understudy, session_id):
    c = client(understudy, session_id)
    unknown = new_key()
    for call in (
        lambda: c.agents.update(unknown, name="x", request_options=NO_RETRY),
        lambda: c.agents.replace(unknown, name="x", tool_configurations={}, model=MODEL, request_options=NO_RETRY),
        lambda: c.agents.delete(unknown, request_options=NO_RETRY),
    ):
        with pytest.raises(NotFoundError) as err:
            call()
        assert err.value.status_code == 404 and err.value.body["id"] == unknown
    with pytest.raises(NotFoundError):
        c.agents.get(unknown)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    yield from served_with_tokens(
        tmp_path_factory, ["zqt_reader agents:read", "zqt_writer agents:read,agents:write"]
    )


def test_writes_need_the_write_permission(guarded, session_id):
    reader = client(guarded, session_id, api_key="zqt_reader")
    some = keys(reader)[0]
    with pytest.raises(ForbiddenError):
        create(reader, new_key())
    with pytest.raises(ForbiddenError):
        reader.agents.update(some, name="nope", request_options=NO_RETRY)
    with pytest.raises(ForbiddenError):
        reader.agents.replace(some, name="nope", tool_configurations={}, model=MODEL, request_options=NO_RETRY)
    with pytest.raises(ForbiddenError):
        reader.agents.delete(some, request_options=NO_RETRY)
    writer = client(guarded, session_id, api_key="zqt_writer")
    key = create(writer, new_key()).key
    assert reader.agents.get(key).key == key
    # A wrong key is 401 before anything else (the client's base ApiError).
    with pytest.raises(ApiError) as err:
        create(client(guarded, session_id, api_key="zqt_wrong"), new_key())
    assert type(err.value) is ApiError and err.value.status_code == 401


# ---- sessions -----------------------------------------------------------------------------


def test_sessions_do_not_see_each_others_writes(understudy, session_id):
    a = client(understudy, session_id + "-a")
    b = client(understudy, session_id + "-b")
    seeded = keys(b)
    made = create(a, new_key()).key
    a.agents.update(seeded[2], name="Renamed In A", request_options=NO_RETRY)
    a.agents.delete(seeded[3])

    with pytest.raises(NotFoundError):
        b.agents.get(made)
    with pytest.raises(NotFoundError):
        b.agents.delete(made, request_options=NO_RETRY)
    assert keys(b) == seeded
    assert total(understudy, session_id + "-b") == len(seeded)
    assert b.agents.get(seeded[2]).name != "Renamed In A"
    assert b.agents.get(seeded[3]).key == seeded[3]
    # The same key can be created in b: keys are unique per session.
    assert create(b, made).key == made
    # Nor the default session (no header).
    status, _, _ = raw(understudy, "GET", f"/v2/agents/{made}")
    assert status == 404
    # a: all of it.
    assert a.agents.get(made).key == made
    assert a.agents.get(seeded[2]).name == "Renamed In A"
    assert seeded[3] not in keys(a)


# ---- vendor behaviour the engine may not follow yet (see letta-vectara.md) -----------------


def test_request_defaults_apply(understudy, session_id):
    c = client(understudy, session_id)
    made = c.agents.create(
        key=new_key(), name="Defaults", tool_configurations=TOOLS, model=MODEL, first_step=FIRST_STEP,
        request_options=NO_RETRY,
    )
    assert made.enabled is True and made.metadata == {}


def test_first_step_name_follows_first_step(understudy, session_id):
    c = client(understudy, session_id)
    made = create(c, new_key(), first_step=dict(FIRST_STEP, name="triage"))
    assert made.first_step.name == "triage" and made.first_step_name == "triage"
    renamed = c.agents.update(made.key, first_step={"name": "router"}, request_options=NO_RETRY)
    assert renamed.first_step.name == "router" and renamed.first_step_name == "router"


def test_generated_key_is_based_on_the_name(understudy, session_id):
    made = create(client(understudy, session_id), name="Billing Helper")
    assert made.key.startswith("agt_billing_helper")


@pytest.mark.xfail(reason="a model without `parameters` does not fit the document's AgentModel and is not kept", strict=True)
def test_model_without_parameters_is_kept(understudy, session_id):
    made = create(client(understudy, session_id), new_key(), model={"name": "gpt-4.1-mini"})
    assert made.model.name == "gpt-4.1-mini"


@pytest.mark.xfail(reason="vendor: metadata replaced wholesale, null clears; JSON merge patch merges", strict=True)
def test_metadata_is_replaced_not_merged(understudy, session_id):
    c = client(understudy, session_id)
    made = create(c, new_key(), metadata={"a": 1})
    assert c.agents.update(made.key, metadata={"b": 2}, request_options=NO_RETRY).metadata == {"b": 2}


@pytest.mark.xfail(reason="tools.available (the document's) is not derived from written tool_configurations", strict=True)
def test_document_tools_follow_tool_configurations(understudy, session_id):
    c = client(understudy, session_id)
    key = create(c, new_key(), tool_configurations={"knowledge_search": TOOLS["knowledge_search"]}).key
    _, _, body = raw(understudy, "GET", f"/v2/agents/{key}", session_id)
    assert [t["id"] for t in body["tools"]["available"]] == ["tol_knowledge_search"]
