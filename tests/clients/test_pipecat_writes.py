"""Pipecat Cloud writes (issue 10) through the official package (PyPI `pipecatcloud` 1.4.0: the
SDK's `_API` and the `pipecat cloud` CLI), against understudy. DRAFT: needs the write
operations of /work/notes/writes/pipecat-cloud.yaml and the deploy timelines of
/work/notes/writes/scenarios/ in the repository; goes to tests/clients/.

Facts this suite relies on (pipecatcloud 1.4.0's installed source):
- Create: `_API.deploy(deploy_config, org, update=False)` -> POST
  /v1/organizations/{org}/services with {serviceName, image | buildId | git, region?,
  imagePullSecretSet?, secretSet?, autoScaling: {minAgents, maxAgents?}, agentProfile?,
  resources?, krispViva: {audioFilter?}, forceRedeploy?, websocketAuth?, maxSessionDuration?,
  architecture?} (None values removed recursively). Update: the same body with PUT to the same
  COLLECTION path (the name is only in the body). The CLI needs a non-empty JSON object back
  (else "A problem occured during deployment") and reads `warning` if present.
- Delete: `_API.agent_delete(agent_name, org)` -> DELETE /v1/organizations/{org}/services/{name};
  the CLI needs a non-empty JSON body (a 404 or an empty body is "Agent 'X' not found in
  organization 'O'", exit 1).
- `pipecat cloud deploy NAME IMAGE --region R --force`: validates R against GET .../regions,
  GETs .../services/NAME (404 -> create, else update), deploys, then polls GET
  .../services/NAME immediately and every ALIVE_CHECK_SLEEP (5 s) seconds, at most
  MAX_ALIVE_CHECKS (120) times: done when `available and (ready or activeDeploymentReady)`
  after `reconciledDeploymentId == desiredDeploymentId` (deploy_utils.interpret_deployment_status).
  It never stops early on a Failed revision (only on a non-empty `errors` array in the
  body); at the end: available -> "Deployment still in progress" panel, exit 0; else "Deployment
  did not become available within N seconds", exit 1. Without --region it reads GET
  .../properties for the default region. A pcc-deploy.toml in the working directory is read:
  the CLI runs in an empty tmp directory here.
- The client sends no custom headers. So that every test has its own session, the CLI runs
  through a wrapper that adds `X-Understudy-Session` in `_API._configure_headers` (every call
  these commands make goes through it), and shortens the poll interval; the SDK tests patch the
  same method in-process. Nothing else of the client is changed.
- Errors: `_API(is_cli=True)` returns (None, error body) and prints it; `_API()` raises
  AgentStartError(body), `error_code` = the body's `code`.
"""

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest

os.environ["PIPECAT_CONFIG_PATH"] = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "no-such-dir", "pipecatcloud.toml"
)

from conftest import admin, request_json  # noqa: E402
from pipecatcloud._utils.deploy_utils import DeployConfigParams, ScalingParams  # noqa: E402
from pipecatcloud.api import _API  # noqa: E402
from pipecatcloud.exception import AgentStartError  # noqa: E402

KEY = "sk_writes_suite"
ORG = "tiny-ferret-maroon-123"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# The CLI with a session header and a short poll: `pipecat cloud ARGS` otherwise unchanged.
CLI_BOOT = """
import os, importlib.metadata as m
import pipecatcloud.api as api
_orig = api._API._configure_headers
def _headers(self, override_token=None):
    h = _orig(self, override_token)
    h["X-Understudy-Session"] = os.environ["UNDERSTUDY_SESSION"]
    return h
api._API._configure_headers = _headers
import pipecatcloud.cli.commands.deploy as d
d.ALIVE_CHECK_SLEEP = float(os.environ.get("PCC_POLL_SECONDS", "0.2"))
d.MAX_ALIVE_CHECKS = int(os.environ.get("PCC_MAX_CHECKS", "100"))
ep = next(e for e in m.entry_points(group="pipecat_cli.extensions") if e.name == "cloud")
ep.load()(prog_name="pipecat cloud")
"""


# ---- helpers ---------------------------------------------------------------------------------


def host(server):
    return server.url + "/pipecat-cloud"


def raw(server, session, method, path, body=None, token=KEY):
    h = {"X-Understudy-Session": session}
    if token:
        h["Authorization"] = f"Bearer {token}"
    status, _, parsed = request_json(host(server) + path, method, h, body)
    return status, parsed


def services(server, session):
    status, body = raw(server, session, "GET", f"/v1/organizations/{ORG}/services")
    assert status == 200, body
    return body["services"]


def detail(server, session, name):
    status, body = raw(server, session, "GET", f"/v1/organizations/{ORG}/services/{name}")
    assert status == 200, (status, body)
    return body["body"]


def region_codes(server, session):
    status, body = raw(server, session, "GET", f"/v1/organizations/{ORG}/regions")
    assert status == 200
    return [r["code"] for r in body["regions"]]


def now(server, session):
    return admin(server, "GET", "/state", session)["now"]


def advance(server, session, by):
    admin(server, "POST", "/clock/advance", session, {"by": by})


def agent_name(session):
    """A valid serviceName, distinct per test (the session id's hex tail)."""
    return "writes-" + session.rsplit("-", 1)[-1]


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def sdk(monkeypatch, understudy, session_id):
    """The SDK pointed at the module's server, every request in this test's session."""
    monkeypatch.setenv("PIPECAT_API_HOST", host(understudy))
    orig = _API._configure_headers

    def with_session(self, override_token=None):
        h = orig(self, override_token)
        h["X-Understudy-Session"] = session_id
        return h

    monkeypatch.setattr(_API, "_configure_headers", with_session)
    return understudy


def deploy(name, image, region, min_agents=1, max_agents=3, update=False, cli=True, **kw):
    api = _API(KEY, is_cli=cli)
    params = DeployConfigParams(
        agent_name=name,
        image=image,
        region=region,
        scaling=ScalingParams(min_agents=min_agents, max_agents=max_agents),
        **kw,
    )
    return run(api.deploy(deploy_config=params, org=ORG, update=update))


def pipecat(server, session, *args, tmp_path, poll=0.2, checks=100):
    e = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PIPECAT_CONFIG_PATH": os.environ["PIPECAT_CONFIG_PATH"],
        "PIPECAT_API_HOST": host(server),
        "PIPECAT_TOKEN": KEY,
        "PIPECAT_ORG": ORG,
        "PYTHONIOENCODING": "utf-8",
        "COLUMNS": "300",
        "UNDERSTUDY_SESSION": session,
        "PCC_POLL_SECONDS": str(poll),
        "PCC_MAX_CHECKS": str(checks),
    }
    p = subprocess.run(
        [sys.executable, "-c", CLI_BOOT, *args],
        env=e, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    return p.returncode, p.stdout, p.stderr


def plain_fields(stdout):
    out = {}
    for line in stdout.splitlines():
        k, sep, v = line.partition(": ")
        if sep and k not in out:
            out[k] = v
    return out


def when(predicate, action, timeout=30):
    """Run `action` once `predicate()` holds (in a thread, while a CLI command runs)."""

    def go():
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                action()
                return
            time.sleep(0.05)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def exists(server, session, name):
    return raw(server, session, "GET", f"/v1/organizations/{ORG}/services/{name}")[0] == 200


# ---- create, get, list, update, delete through the SDK ------------------------------------------


def test_sdk_create_get_list_update_delete(sdk, session_id):
    s = session_id
    name = agent_name(s)
    region = region_codes(sdk, s)[-1]
    before = services(sdk, s)
    assert name not in [x["name"] for x in before]
    created_at = now(sdk, s)

    data, error = deploy(name, "acme/writes-bot:1.0", region, 1, 3, agent_profile="agent-2x")
    assert error is None and isinstance(data, dict) and data
    assert data["name"] == name

    got, error = run(_API(KEY, is_cli=True).agent(agent_name=name, org=ORG))
    assert error is None
    assert got == detail(sdk, s, name) == data  # the create answers what a GET then shows
    assert got["region"] == region and got["agentProfile"] == "agent-2x"
    assert got["deployment"]["manifest"]["spec"]["image"] == "acme/writes-bot:1.0"
    assert got["autoScaling"] == {"minReplicas": 1, "maxReplicas": 3}
    assert got["createdAt"] == got["updatedAt"] == created_at
    # A new service: its first revision is Creating; not ready, not available, not reconciled.
    first = got["desiredDeploymentId"]
    assert re.fullmatch(UUID, first)
    assert got["activeDeploymentId"] == got["deployment"]["id"] == first
    assert got["ready"] is False and got["activeDeploymentReady"] is False
    assert got["available"] is False
    assert "reconciledDeploymentId" not in got
    assert got["currentRevision"]["phase"] == "Creating"
    assert got["currentRevision"]["deploymentID"] == first
    assert got["previousRevision"] is None
    # The documented detail shows the same agent.
    status, doc = raw(sdk, s, "GET", f"/v1/agents/{name}")
    assert status == 200 and doc == got

    after = services(sdk, s)
    assert [x["name"] for x in after].count(name) == 1
    assert len(after) == len(before) + 1
    item = next(x for x in after if x["name"] == name)
    for k in ("region", "activeDeploymentId", "createdAt", "updatedAt"):
        assert item[k] == got[k]

    # The create's rollout on the session's clock.
    advance(sdk, s, "30s")
    assert detail(sdk, s, name)["currentRevision"]["phase"] == "Validating"
    advance(sdk, s, "30s")
    live = detail(sdk, s, name)
    assert live["currentRevision"]["phase"] == "Active"
    assert live["ready"] is True and live["available"] is True
    assert live["reconciledDeploymentId"] == live["desiredDeploymentId"] == first

    # Update: a new image and scaling; a rolling update starts.
    data, error = deploy(name, "acme/writes-bot:2.0", region, 2, 5, update=True)
    assert error is None and data
    upd = detail(sdk, s, name)
    assert upd == data
    second = upd["desiredDeploymentId"]
    assert second != first and re.fullmatch(UUID, second)
    assert upd["deployment"]["manifest"]["spec"]["image"] == "acme/writes-bot:2.0"
    assert upd["autoScaling"] == {"minReplicas": 2, "maxReplicas": 5}
    assert upd["createdAt"] == created_at and upd["updatedAt"] > created_at
    assert upd["reconciledDeploymentId"] == first
    assert upd["ready"] is False and upd["available"] is True
    assert upd["currentRevision"]["phase"] == "Creating"
    assert upd["previousRevision"]["deploymentID"] == first
    assert upd["previousRevision"]["phase"] == "Active"
    advance(sdk, s, "30s")
    assert detail(sdk, s, name)["currentRevision"]["phase"] == "Validating"
    advance(sdk, s, "30s")
    done = detail(sdk, s, name)
    assert done["ready"] is True and done["reconciledDeploymentId"] == second
    assert done["previousRevision"]["phase"] == "Draining"
    advance(sdk, s, "30s")
    assert detail(sdk, s, name)["previousRevision"] is None

    # Delete.
    data, error = run(_API(KEY, is_cli=True).agent_delete(agent_name=name, org=ORG))
    assert error is None and data == {"status": "OK"}
    got, error = run(_API(KEY, is_cli=True).agent(agent_name=name, org=ORG))
    assert got is None and error is None  # the CLI's client reads a 404 as "no agent"
    status, body = raw(sdk, s, "GET", f"/v1/organizations/{ORG}/services/{name}")
    assert status == 404 and body["code"] == "404"
    assert [x["name"] for x in services(sdk, s)] == [x["name"] for x in before]
    # Deleting again: not found.
    status, body = raw(sdk, s, "DELETE", f"/v1/organizations/{ORG}/services/{name}")
    assert status == 404 and set(body) == {"error", "code"}


def test_sdk_invalid_body_raises(sdk, session_id):
    region = region_codes(sdk, session_id)[0]
    # The client checks nothing of the name; the API's pattern does.
    status, body = raw(
        sdk, session_id, "POST", f"/v1/organizations/{ORG}/services",
        {"serviceName": "Not_Valid", "image": "acme/x:1", "region": region},
    )
    assert status == 400 and set(body) == {"error", "code"}
    assert "serviceName" in body["error"]
    with pytest.raises(AgentStartError) as exc:
        deploy("Not_Valid", "acme/x:1", region, cli=False)
    assert exc.value.error_code == body["code"]
    data, error = deploy("Not_Valid", "acme/x:1", region, cli=True)
    assert data is None and error == body
    assert "Not_Valid" not in [x["name"] for x in services(sdk, session_id)]


def test_sdk_create_taken_name_is_400(sdk, session_id):
    name = services(sdk, session_id)[0]["name"]  # a dataset agent
    region = region_codes(sdk, session_id)[0]
    with pytest.raises(AgentStartError) as exc:
        deploy(name, "acme/x:1", region, cli=False)
    status, body = raw(
        sdk, session_id, "POST", "/v1/agents", {"serviceName": name, "image": "acme/x:1"}
    )
    assert status == 400 and exc.value.error_code == body["code"]


def test_sessions_do_not_see_each_other(understudy, session_id):
    a, b = session_id, session_id + "-other"
    name = agent_name(a)
    status, created = raw(
        understudy, a, "POST", "/v1/agents", {"serviceName": name, "image": "acme/x:1.0"}
    )
    assert status == 200 and created["name"] == name
    assert name in [x["name"] for x in services(understudy, a)]
    assert name not in [x["name"] for x in services(understudy, b)]
    assert raw(understudy, b, "GET", f"/v1/agents/{name}")[0] == 404
    # Nor the `default` session (requests without the header).
    status, _, body = request_json(
        host(understudy) + f"/v1/agents/{name}", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert status == 404
    # Deleting in b does not reach a's agent.
    assert raw(understudy, b, "DELETE", f"/v1/agents/{name}")[0] == 404
    assert raw(understudy, a, "GET", f"/v1/agents/{name}")[0] == 200


# ---- the documented routes (raw HTTP) -----------------------------------------------------------


def test_documented_create_update_delete(understudy, session_id):
    s = session_id
    name = agent_name(s)
    status, created = raw(
        understudy, s, "POST", "/v1/agents",
        {"serviceName": name, "image": "acme/doc:0.1", "autoScaling": {"minAgents": 1, "maxAgents": 4}},
    )
    assert status == 200, created
    # Defaults the vendor documents for omitted fields.
    assert created["region"] == "us-west" and created["agentProfile"] == "agent-1x"
    assert created["autoScaling"] == {"minReplicas": 1, "maxReplicas": 4}
    status, updated = raw(understudy, s, "POST", f"/v1/agents/{name}", {"image": "acme/doc:0.2"})
    assert status == 200
    assert updated["deployment"]["manifest"]["spec"]["image"] == "acme/doc:0.2"
    assert updated["autoScaling"] == created["autoScaling"]  # left out: kept
    assert updated["desiredDeploymentId"] != created["desiredDeploymentId"]
    assert raw(understudy, s, "GET", f"/v1/agents/{name}")[1] == updated
    assert raw(understudy, s, "POST", f"/v1/agents/{name}", {"autoScaling": {"minAgents": "x"}})[0] == 400
    status, body = raw(understudy, s, "DELETE", f"/v1/agents/{name}")
    assert status == 200 and body == {"status": "OK"}
    assert raw(understudy, s, "GET", f"/v1/agents/{name}")[0] == 404
    assert raw(understudy, s, "POST", f"/v1/agents/{name}", {"image": "acme/doc:0.3"})[0] == 404
    assert raw(understudy, s, "DELETE", f"/v1/agents/{name}")[0] == 404
    status, body = raw(understudy, s, "POST", "/v1/agents", {"image": "acme/doc:0.1"})
    assert status == 400 and "serviceName" in body["error"]


def test_unknown_organization_cannot_write(understudy, session_id):
    status, body = raw(
        understudy, session_id, "POST", "/v1/organizations/not-my-org/services",
        {"serviceName": agent_name(session_id), "image": "acme/x:1"},
    )
    assert status == 403 and set(body) == {"error", "code"}


# ---- the CLI -------------------------------------------------------------------------------------


def test_cli_deploy_create_then_update_waits_for_active(understudy, session_id, tmp_path):
    s = session_id
    name = agent_name(s)
    region = region_codes(understudy, s)[0]
    # The create's rollout completes when the session's clock reaches +60s.
    t = when(lambda: exists(understudy, s, name), lambda: advance(understudy, s, "60s"))
    rc, out, err = pipecat(
        understudy, s, "deploy", name, "acme/cli-bot:1.0", "--region", region,
        "--min-agents", "1", "--max-agents", "2", "--force", tmp_path=tmp_path,
    )
    t.join(5)
    assert rc == 0, out + err
    assert f"Agent deployment '{name}' is ready" in out
    d = detail(understudy, s, name)
    assert d["ready"] is True and d["reconciledDeploymentId"] == d["desiredDeploymentId"]
    assert d["deployment"]["manifest"]["spec"]["image"] == "acme/cli-bot:1.0"
    first = d["desiredDeploymentId"]

    # Deploying again to the existing agent: an update (PUT), a rolling update on the clock.
    t = when(
        lambda: detail(understudy, s, name)["desiredDeploymentId"] != first,
        lambda: advance(understudy, s, "60s"),
    )
    rc, out, err = pipecat(
        understudy, s, "--output", "json", "deploy", name, "acme/cli-bot:2.0", "--region",
        region, "--force", tmp_path=tmp_path,
    )
    t.join(5)
    assert rc == 0, out + err
    result = json.loads(out)
    d = detail(understudy, s, name)
    assert result == {
        "agentName": name, "deploymentId": d["desiredDeploymentId"], "ready": True,
        "available": True,
    }
    assert d["desiredDeploymentId"] != first
    assert d["deployment"]["manifest"]["spec"]["image"] == "acme/cli-bot:2.0"
    assert d["previousRevision"]["deploymentID"] == first

    rc, out, err = pipecat(understudy, s, "agent", "status", name, tmp_path=tmp_path)
    assert rc == 0, out + err
    got = plain_fields(out)
    assert got["Ready"] == "True" and got["Deployment Phase"] == "Active"
    assert got["Image"] == "acme/cli-bot:2.0"


def test_cli_deploy_fails_when_a_scenario_says_so(understudy, session_id, tmp_path):
    s = session_id
    name = agent_name(s)
    region = region_codes(understudy, s)[0]
    admin(understudy, "POST", "/scenarios/failing-deploys/start", s)
    # Never ready: the CLI polls its (shortened) budget, then gives up; nothing was available.
    rc, out, err = pipecat(
        understudy, s, "deploy", name, "acme/oom-bot:1.0", "--region", region, "--force",
        tmp_path=tmp_path, poll=0.1, checks=5,
    )
    assert rc == 1
    assert "Deployment did not become available within" in out
    advance(understudy, s, "90s")
    d = detail(understudy, s, name)
    assert d["ready"] is False and d["available"] is False
    health = d["currentRevision"]["health"]
    assert d["currentRevision"]["phase"] == "Failed"
    assert health["reason"] == "CrashLoopBackOff" and health["lastExitCode"] != 0
    rc, out, err = pipecat(understudy, s, "agent", "status", name, tmp_path=tmp_path)
    assert rc == 0, out + err
    assert plain_fields(out)["Deployment Phase"] == "Failed"


def test_cli_agent_delete(understudy, session_id, tmp_path):
    s = session_id
    name = agent_name(s)
    assert raw(understudy, s, "POST", "/v1/agents", {"serviceName": name, "image": "acme/x:1"})[0] == 200
    rc, out, err = pipecat(understudy, s, "agent", "delete", name, "--force", tmp_path=tmp_path)
    assert rc == 0, out + err
    assert f"Agent '{name}' deleted successfully" in out
    assert raw(understudy, s, "GET", f"/v1/organizations/{ORG}/services/{name}")[0] == 404
    rc, out, err = pipecat(understudy, s, "agent", "delete", name, "--force", tmp_path=tmp_path)
    assert rc == 1
    assert f"Agent '{name}' not found in organization '{ORG}'" in out


def test_cli_deploy_invalid_name(understudy, session_id, tmp_path):
    region = region_codes(understudy, session_id)[0]
    rc, out, err = pipecat(
        understudy, session_id, "deploy", "Not_Valid", "acme/x:1", "--region", region, "--force",
        tmp_path=tmp_path,
    )
    assert rc == 1
    assert "API Error" in out + err
    assert raw(understudy, session_id, "GET", f"/v1/organizations/{ORG}/services/Not_Valid")[0] == 404
