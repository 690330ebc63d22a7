"""Pipecat Cloud through its official package (PyPI `pipecatcloud` 1.4.0, pinned in .ci): the
Python SDK and the `pipecat cloud` CLI, against understudy.

Facts about the client this suite relies on (read from pipecatcloud 1.4.0's installed source):
- Configuration (`pipecatcloud/config.py`, `pipecatcloud/cli/config.py`): every setting `foo`
  is read from the environment variable `PIPECAT_FOO` first, then from the TOML file at
  `PIPECAT_CONFIG_PATH` (default `~/.config/pipecatcloud/pipecatcloud.toml`: top-level `token`,
  `org`, and per-organisation tables), then its default. So: `PIPECAT_API_HOST` (the host, the
  client appends `/v1/...`; for understudy `http://HOST:PORT/pipecat-cloud`), `PIPECAT_TOKEN`
  (private key, sent as `Authorization: Bearer ...`), `PIPECAT_ORG` (organisation name; when
  unset, the CLI asks `GET /v1/organizations` and takes the first one's `name`),
  `PIPECAT_DEFAULT_PUBLIC_KEY` (public key for `agent start`), `PIPECAT_OUTPUT` (rich, plain,
  json; `--output` before the subcommand wins; plain is the default when not on a terminal).
- Routes: `agent list` -> `GET /v1/organizations/{org}/services?include=git[&region=R]`, reads
  `services[]` and, per item, `name`, `region`, `id`, `activeDeploymentId`, `createdAt`,
  `updatedAt` (indexed: a missing one is a KeyError) and `git` (optional). `agent status NAME`
  -> `GET /v1/organizations/{org}/services/{NAME}`, reads `body`; a 404 is "no agent". `regions
  list` (and `agent list --region`, which validates the region first) -> `GET
  /v1/organizations/{org}/regions`, reads `regions[]` with `code` and `display_name`.
  `Session(...).start()` and `agent start` -> `POST /v1/public/{agent}/start` with the public
  key as the bearer token and the JSON body `{"createDailyRoom": bool, "body"?: {...},
  "dailyRoomProperties"?: {...}}`; `agent start` first GETs the detail and refuses unless
  `ready` is true. The response is returned as is; the CLI reads `dailyRoom`, `dailyToken`,
  `sessionId`.
- Errors: `_API(..., is_cli=True)` (the CLI's client) turns a 404 on the detail, the regions
  and the start into an empty result, and any other error into `(None, body)` after printing
  it: a body whose `code` is "401" as the "Unauthorized (401)" panel, anything else as
  "Error - CODE: API Error: MESSAGE". `_API()` without `is_cli` (the SDK's, used by `Session`)
  raises `AgentStartError(body)` for any error status; `error_code` is the body's `code`, which
  the vendor documents as "404" (agent not found) and "429" (at capacity).
- The CLI is the Typer app that `pipecat-ai-cli` mounts as `pipecat cloud` (entry point group
  `pipecat_cli.extensions`, name `cloud`); this package has no console script of its own, so
  the suite runs that entry point in a subprocess (or `pipecat cloud` if it is installed).
- The client sends no custom headers, so the CLI cannot carry X-Understudy-Session: the
  failed-rollout checks use a server started with `--scenario failed-rollout` and drive the
  clock of the `default` session (admin calls without the header).
"""

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

# The client reads its settings file when imported: point it at nothing, so a developer's real
# credentials are never read and never sent.
os.environ["PIPECAT_CONFIG_PATH"] = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "no-such-dir", "pipecatcloud.toml"
)

from conftest import Understudy, request_json, served_with_tokens  # noqa: E402
from pipecatcloud.api import _API  # noqa: E402
from pipecatcloud.exception import AgentStartError  # noqa: E402
from pipecatcloud.session import Session, SessionParams  # noqa: E402

PRIVATE_KEY = "sk_clients_suite"
PUBLIC_KEY = "pk_clients_suite"
# The organisation the spec declares (x-understudy.collections.organizations of
# specs/pipecat-cloud.yaml); any other name is an organisation the caller is not a member of.
ORG = "tiny-ferret-maroon-123"
UNKNOWN_AGENT = "no-such-agent-0000"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CLI_BOOT = (
    "import importlib.metadata as m;"
    "ep = next(e for e in m.entry_points(group='pipecat_cli.extensions') if e.name == 'cloud');"
    "ep.load()(prog_name='pipecat cloud')"
)


# ---- helpers ---------------------------------------------------------------------------------


def host(server):
    """What PIPECAT_API_HOST is set to: the client appends /v1/... itself."""
    return server.url + "/pipecat-cloud"


def raw(server, method, path, token=PRIVATE_KEY, body=None, headers=None):
    """One request with urllib: (status, parsed body). `path` starts with /v1."""
    h = {"Authorization": f"Bearer {token}"} if token else {}
    h.update(headers or {})
    status, _, parsed = request_json(host(server) + path, method, h, body)
    return status, parsed


def raw_services(server, **query):
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    path = f"/v1/organizations/{ORG}/services" + ("?" + qs if qs else "")
    status, body = raw(server, "GET", path)
    assert status == 200, body
    return body["services"]


def raw_detail(server, name):
    status, body = raw(server, "GET", f"/v1/organizations/{ORG}/services/{name}")
    assert status == 200, body
    assert set(body) == {"body"}, body
    return body["body"]


def raw_regions(server):
    status, body = raw(server, "GET", f"/v1/organizations/{ORG}/regions")
    assert status == 200, body
    return body["regions"]


def admin_default(server, method, path, body=None):
    """An admin call for the `default` session (no X-Understudy-Session header): the session the
    CLI's requests land in, since it cannot send the header."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        server.url + "/__understudy" + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


@pytest.fixture
def sdk(monkeypatch, understudy):
    """The SDK pointed at the module's server (it reads PIPECAT_API_HOST on every call)."""
    monkeypatch.setenv("PIPECAT_API_HOST", host(understudy))
    return understudy


def run(coro):
    return asyncio.run(coro)


def pipecat(server, *args, token=PRIVATE_KEY, org=ORG, env=None, tmp_path=None):
    """Run `pipecat cloud ARGS` in a subprocess configured through the environment only."""
    home = str(tmp_path) if tmp_path else os.path.dirname(os.environ["PIPECAT_CONFIG_PATH"])
    e = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": home,
        "PIPECAT_CONFIG_PATH": os.environ["PIPECAT_CONFIG_PATH"],
        "PIPECAT_API_HOST": host(server),
        "PYTHONIOENCODING": "utf-8",
        "COLUMNS": "300",  # rich output: no wrapping of ids and tracebacks
    }
    if token is not None:
        e["PIPECAT_TOKEN"] = token
    if org is not None:
        e["PIPECAT_ORG"] = org
    e.update(env or {})
    exe = shutil.which("pipecat", path=os.path.dirname(sys.executable))
    cmd = [exe, "cloud", *args] if exe else [sys.executable, "-c", CLI_BOOT, *args]
    p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def plain_fields(stdout):
    """`Key: value` lines of the plain `agent status` output."""
    out = {}
    for line in stdout.splitlines():
        k, sep, v = line.partition(": ")
        if sep and k not in out:
            out[k] = v
    return out


def records(stdout, header):
    """Rows of a plain-mode table (tab-separated, after its header line)."""
    lines = stdout.splitlines()
    i = lines.index("\t".join(header))
    return [l.split("\t") for l in lines[i + 1 :] if "\t" in l]


# ---- the raw routes the client calls ---------------------------------------------------------


def test_org_routes_serve_the_document_dataset(understudy):
    """The organisation-scoped list and detail show the same agents as the documented /v1/agents
    routes: same names, same list fields, the same detail inside the `body` envelope."""
    org_items = raw_services(understudy)
    status, doc = raw(understudy, "GET", "/v1/agents?includeActiveDeployment=true")
    assert status == 200, doc
    doc_items = doc["services"]
    assert [s["name"] for s in org_items] == [s["name"] for s in doc_items]
    assert len(org_items) == 23  # the spec's default count
    read = ("name", "region", "id", "activeDeploymentId", "createdAt", "updatedAt")
    for o, d in zip(org_items, doc_items):
        assert {k: o[k] for k in read} == {k: d[k] for k in read}
    for item in org_items[:5]:
        status, detail = raw(understudy, "GET", f"/v1/agents/{item['name']}")
        assert status == 200
        assert raw_detail(understudy, item["name"]) == detail


def test_agents_are_in_listed_regions(understudy):
    codes = [r["code"] for r in raw_regions(understudy)]
    assert len(codes) == len(set(codes)) >= 1
    items = raw_services(understudy)
    assert {s["region"] for s in items} <= set(codes)
    # The region filter partitions the list.
    by_region = {c: raw_services(understudy, region=c) for c in codes}
    assert sorted(s["name"] for v in by_region.values() for s in v) == sorted(
        s["name"] for s in items
    )
    for code, subset in by_region.items():
        assert all(s["region"] == code for s in subset)


# ---- SDK -------------------------------------------------------------------------------------


def test_sdk_list_matches_raw(sdk):
    api = _API(PRIVATE_KEY, is_cli=True)
    data, error = run(api.agents(org=ORG, include=["git"]))
    assert error is None
    assert data == raw_services(sdk, include="git")
    assert len(data) == 23


def test_sdk_list_region_filter(sdk):
    api = _API(PRIVATE_KEY, is_cli=True)
    everything = raw_services(sdk)
    for code in sorted({s["region"] for s in everything}):
        data, error = run(api.agents(org=ORG, region=code))
        assert error is None
        assert [s["name"] for s in data] == [s["name"] for s in everything if s["region"] == code]


def test_sdk_get_every_agent(sdk):
    api = _API(PRIVATE_KEY, is_cli=True)
    for item in raw_services(sdk):
        data, error = run(api.agent(agent_name=item["name"], org=ORG))
        assert error is None
        assert data == raw_detail(sdk, item["name"])
        assert data["name"] == item["name"] and data["region"] == item["region"]
        # What the CLI's rich status view indexes without a default.
        assert isinstance(data["ready"], bool)
        assert {"minReplicas", "maxReplicas"} <= set(data["autoScaling"])


def test_sdk_get_unknown_agent(sdk):
    status, body = raw(sdk, "GET", f"/v1/organizations/{ORG}/services/{UNKNOWN_AGENT}")
    assert status == 404
    assert set(body) == {"error", "code"}
    # The CLI's client: a 404 is "no such agent", not an error.
    data, error = run(_API(PRIVATE_KEY, is_cli=True).agent(agent_name=UNKNOWN_AGENT, org=ORG))
    assert (data, error) == (None, None)
    # The SDK's client raises its own exception, carrying the body's code.
    with pytest.raises(AgentStartError) as exc:
        run(_API(PRIVATE_KEY).agent(agent_name=UNKNOWN_AGENT, org=ORG))
    assert exc.value.error_code == body["code"] == "404"


def test_sdk_regions(sdk):
    data, error = run(_API(PRIVATE_KEY, is_cli=True).regions(org=ORG))
    assert error is None
    assert data == raw_regions(sdk)
    for region in data:
        assert isinstance(region["code"], str) and region["code"]
        assert isinstance(region["display_name"], str) and region["display_name"]


def test_sdk_session_start(sdk):
    name = raw_services(sdk)[0]["name"]
    session = Session(
        agent_name=name,
        api_key=PUBLIC_KEY,
        params=SessionParams(
            data={"foo": "bar"}, use_daily=True, daily_room_properties={"start_video_off": True}
        ),
    )
    result = run(session.start())
    assert re.fullmatch(r"https://\S+", result["dailyRoom"]), result
    assert isinstance(result["dailyToken"], str) and result["dailyToken"]
    assert re.fullmatch(UUID, result["sessionId"]), result
    # The same request without the SDK gets a body of the same shape.
    status, body = raw(
        sdk, "POST", f"/v1/public/{name}/start", token=PUBLIC_KEY, body={"createDailyRoom": True}
    )
    assert status == 200 and set(body) == set(result)


def test_sdk_session_start_unknown_agent(sdk):
    with pytest.raises(AgentStartError) as exc:
        run(Session(agent_name=UNKNOWN_AGENT, api_key=PUBLIC_KEY).start())
    status, body = raw(
        sdk, "POST", f"/v1/public/{UNKNOWN_AGENT}/start", token=PUBLIC_KEY,
        body={"createDailyRoom": False},
    )
    assert status == 404
    # The vendor's documented "agent not found" check: e.error_code == "404".
    assert exc.value.error_code == body["code"] == "404"
    assert body["error"] in str(exc.value)


def test_sdk_session_start_bad_body(sdk):
    """A body the operation refuses is the API's 400, raised as AgentStartError."""
    name = raw_services(sdk)[0]["name"]
    status, body = raw(
        sdk, "POST", f"/v1/public/{name}/start", token=PUBLIC_KEY, body={"createDailyRoom": "yes"}
    )
    assert status == 400 and set(body) == {"error", "code"}
    with pytest.raises(AgentStartError) as exc:
        run(_API().start_agent(agent_name=name, api_key=PUBLIC_KEY, use_daily=True, data="[1]"))
    assert exc.value.error_code == body["code"]


# ---- CLI -------------------------------------------------------------------------------------


LIST_HEADER = [
    "Name", "Region", "Agent ID", "Active Deployment ID", "Created At", "Updated At", "GitHub",
]


def test_cli_agent_list(understudy, tmp_path):
    items = raw_services(understudy)
    rc, out, err = pipecat(understudy, "agent", "list", tmp_path=tmp_path)
    assert rc == 0, out + err
    assert f"Agents for organization: {ORG} ({len(items)} results)" in out
    rows = records(out, LIST_HEADER)
    assert rows == [
        [s[k] for k in ("name", "region", "id", "activeDeploymentId", "createdAt", "updatedAt")]
        + ["—"]
        for s in items
    ]


def test_cli_agent_list_json(understudy, tmp_path):
    rc, out, err = pipecat(understudy, "--output", "json", "agent", "list", tmp_path=tmp_path)
    assert rc == 0, out + err
    assert json.loads(out) == {"agents": raw_services(understudy, include="git")}


def test_cli_agent_list_region(understudy, tmp_path):
    items = raw_services(understudy)
    code = items[0]["region"]
    rc, out, err = pipecat(understudy, "agent", "list", "--region", code, tmp_path=tmp_path)
    assert rc == 0, out + err
    names = [r[0] for r in records(out, LIST_HEADER)]
    assert names == [s["name"] for s in items if s["region"] == code]
    assert len(names) < len(items)


def test_cli_agent_list_unknown_region(understudy, tmp_path):
    """The CLI checks --region against the organisation's regions before listing."""
    codes = [r["code"] for r in raw_regions(understudy)]
    rc, out, err = pipecat(understudy, "agent", "list", "--region", "mars-north", tmp_path=tmp_path)
    assert rc == 1
    assert f"Invalid region 'mars-north'. Valid regions are: {', '.join(codes)}" in out


def test_cli_regions_list(understudy, tmp_path):
    regions = raw_regions(understudy)
    rc, out, err = pipecat(understudy, "regions", "list", tmp_path=tmp_path)
    assert rc == 0, out + err
    rows = records(out, ["Code", "Name", "Architectures", "Default"])
    assert [r[:2] for r in rows] == [[r["code"], r["display_name"]] for r in regions]
    rc, out, err = pipecat(understudy, "--output", "json", "regions", "list", tmp_path=tmp_path)
    assert rc == 0, out + err
    assert json.loads(out) == {"regions": regions}


def expected_status_lines(name, d):
    """The plain `agent status` lines pipecatcloud 1.4.0 prints for a detail body `d`."""
    spec = d.get("deployment", {}).get("manifest", {}).get("spec", {})
    lines = {
        "Agent": name,
        "Ready": str(bool(d.get("ready"))),
        "Active Session Count": str(d.get("activeSessionCount", "N/A")),
        "Image": str(spec["image"]),
        "Active Deployment ID": str(d.get("activeDeploymentId", "N/A")),
        "Created At": str(d.get("createdAt", "N/A")),
        "Updated At": str(d.get("updatedAt", "N/A")),
        "Min Agents": str(d["autoScaling"]["minReplicas"]),
        "Max Agents": str(d["autoScaling"]["maxReplicas"]),
    }
    if d.get("currentRevision"):
        lines["Deployment Phase"] = d["currentRevision"]["phase"]
    if d.get("agentProfile"):
        lines["Agent Profile"] = d["agentProfile"]
    return lines


def test_cli_agent_status(understudy, tmp_path):
    items = raw_services(understudy)
    details = {s["name"]: raw_detail(understudy, s["name"]) for s in items}
    # One ready and one not-ready agent, when the dataset has both.
    ready = [n for n, d in details.items() if d["ready"]]
    not_ready = [n for n, d in details.items() if not d["ready"]]
    assert ready and not_ready
    for name in (ready[0], not_ready[0]):
        d = details[name]
        rc, out, err = pipecat(understudy, "agent", "status", name, tmp_path=tmp_path)
        assert rc == 0, out + err
        got = plain_fields(out)
        for key, value in expected_status_lines(name, d).items():
            assert got.get(key) == value, (key, out)
        rc, out, err = pipecat(
            understudy, "--output", "json", "agent", "status", name, tmp_path=tmp_path
        )
        assert rc == 0, out + err
        assert json.loads(out) == d
        # The rich view indexes `ready` and needs `autoScaling`; it must render, with the
        # revision's phase and id.
        rc, out, err = pipecat(
            understudy, "--output", "rich", "agent", "status", name, tmp_path=tmp_path
        )
        assert rc == 0, out + err
        assert f"Status for agent {name}" in out
        rev = d["currentRevision"]
        assert f"Current  ({rev['deploymentID'][:8]}) {rev['phase']}" in out


def test_cli_agent_status_unknown_agent(understudy, tmp_path):
    rc, out, err = pipecat(understudy, "agent", "status", UNKNOWN_AGENT, tmp_path=tmp_path)
    assert rc == 1
    assert f"No deployment data found for agent with name '{UNKNOWN_AGENT}'" in out


def test_cli_agent_start(understudy, tmp_path):
    details = {s["name"]: raw_detail(understudy, s["name"]) for s in raw_services(understudy)}
    name = next(n for n, d in details.items() if d["ready"])
    rc, out, err = pipecat(
        understudy, "agent", "start", name, "--api-key", PUBLIC_KEY, "--force", "--use-daily",
        "--data", '{"foo": "bar"}', tmp_path=tmp_path,
    )
    assert rc == 0, out + err
    assert f"Agent '{name}' started successfully" in out
    m = re.search(r"^Session ID: (\S+)$", out, re.M)
    assert m, out
    link = re.search(r"^(https://\S+)\?t=(\S+)$", out, re.M)
    assert link, out
    # JSON mode prints the start response itself.
    rc, out, err = pipecat(
        understudy, "--output", "json", "agent", "start", name, "--api-key", PUBLIC_KEY,
        "--force", "--use-daily", tmp_path=tmp_path,
    )
    assert rc == 0, out + err
    body = json.loads(out)
    assert {"dailyRoom", "dailyToken", "sessionId"} <= set(body)


def test_cli_agent_start_refuses_agent_not_ready(understudy, tmp_path):
    details = {s["name"]: raw_detail(understudy, s["name"]) for s in raw_services(understudy)}
    name = next(n for n, d in details.items() if not d["ready"])
    rc, out, err = pipecat(
        understudy, "agent", "start", name, "--api-key", PUBLIC_KEY, "--force", tmp_path=tmp_path
    )
    assert rc == 1
    assert f"Agent '{name}' does not exist or is not in a healthy state" in out


def test_cli_unknown_organization(understudy, tmp_path):
    """An organisation the caller is not a member of: the vendor answers 403 with the error
    envelope; the CLI prints it as an API error (not as "no agent") and exits 1."""
    status, body = raw(understudy, "GET", "/v1/organizations/not-my-org/services")
    assert status == 403 and set(body) == {"error", "code"}
    rc, out, err = pipecat(
        understudy, "agent", "list", "--organization", "not-my-org", tmp_path=tmp_path
    )
    assert rc == 1
    assert f"API Error: {body['error']}" in out
    name = raw_services(understudy)[0]["name"]
    rc, out, err = pipecat(
        understudy, "agent", "status", name, "--organization", "not-my-org", tmp_path=tmp_path
    )
    assert rc == 1
    assert "No deployment data found" not in out
    assert f"API Error: {body['error']}" in out


def test_cli_resolves_organization_without_pipecat_org(understudy, tmp_path):
    """With only PIPECAT_TOKEN set, the CLI uses the first organisation of GET /v1/organizations."""
    status, body = raw(understudy, "GET", "/v1/organizations")
    assert status == 200
    assert body["organizations"][0]["name"] == ORG
    rc, out, err = pipecat(understudy, "agent", "list", org=None, tmp_path=tmp_path)
    assert rc == 0, out + err
    assert f"Agents for organization: {ORG} (" in out


# ---- unauthorized: a server that accepts only listed tokens ------------------------------------


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    yield from served_with_tokens(tmp_path_factory, [PRIVATE_KEY, PUBLIC_KEY])


def test_unauthorized_raw(locked):
    assert raw(locked, "GET", f"/v1/organizations/{ORG}/services")[0] == 200
    for path in (
        f"/v1/organizations/{ORG}/services",
        f"/v1/organizations/{ORG}/services/anything",
        f"/v1/organizations/{ORG}/regions",
    ):
        status, body = raw(locked, "GET", path, token="sk_wrong")
        assert status == 401 and set(body) == {"error", "code"}, (path, body)
        # The code the CLI recognises as "unauthorized".
        assert body["code"] == "401"


def test_cli_unauthorized(locked, tmp_path):
    rc, out, err = pipecat(locked, "agent", "list", tmp_path=tmp_path)
    assert rc == 0, out + err  # the listed token works
    for args in (("agent", "list"), ("agent", "status", raw_services(locked)[0]["name"])):
        rc, out, err = pipecat(locked, *args, token="sk_wrong", tmp_path=tmp_path)
        assert rc == 1, args
        assert "Unauthorized (401)" in out, out
        assert "No deployment data found" not in out


def test_sdk_unauthorized(locked, monkeypatch):
    monkeypatch.setenv("PIPECAT_API_HOST", host(locked))
    api = _API("sk_wrong", is_cli=True)
    data, error = run(api.agents(org=ORG))
    assert data is None and error["code"] == "401" and api.error_status == 401
    name = raw_services(locked)[0]["name"]
    with pytest.raises(AgentStartError) as exc:
        run(Session(agent_name=name, api_key="pk_wrong").start())
    assert exc.value.error_code == "401"
    # The listed public key starts the session.
    assert "sessionId" in run(Session(agent_name=name, api_key=PUBLIC_KEY).start())


# ---- scenario: failed-rollout, active in every session -----------------------------------------


@pytest.fixture(scope="module")
def rollout():
    server = Understudy("--scenario", "failed-rollout")
    yield server
    server.stop()
    assert server.violations() == [], "".join(server.violations())


def test_cli_failed_rollout(rollout, tmp_path):
    agent = raw_services(rollout)[0]  # "@0": the dataset's first agent
    name = agent["name"]
    start = raw_detail(rollout, name)
    # Started with the server: baseline and deploy have fired in the default session.
    assert start["currentRevision"]["phase"] == "Creating"
    new_id, old_id = start["desiredDeploymentId"], start["reconciledDeploymentId"]
    assert new_id != old_id and start["ready"] is False and start["available"] is True

    rc, out, err = pipecat(rollout, "agent", "status", name, tmp_path=tmp_path)
    assert rc == 0, out + err
    got = plain_fields(out)
    assert got["Ready"] == "False" and got["Deployment Phase"] == "Creating"
    assert got["Active Deployment ID"] == new_id

    admin_default(rollout, "POST", "/clock/advance", {"by": "30s"})
    rc, out, err = pipecat(rollout, "agent", "status", name, tmp_path=tmp_path)
    assert rc == 0, out + err
    assert plain_fields(out)["Deployment Phase"] == "Validating"

    admin_default(rollout, "POST", "/clock/advance", {"by": "60s"})
    state = admin_default(rollout, "GET", "/state")
    assert "failed" in json.dumps(state)
    failed = raw_detail(rollout, name)
    rc, out, err = pipecat(rollout, "agent", "status", name, tmp_path=tmp_path)
    assert rc == 0, out + err
    got = plain_fields(out)
    assert got["Ready"] == "False" and got["Deployment Phase"] == "Failed"
    assert got["Active Deployment ID"] == new_id
    # JSON mode: the whole body, health included.
    rc, out, err = pipecat(rollout, "--output", "json", "agent", "status", name, tmp_path=tmp_path)
    assert rc == 0, out + err
    body = json.loads(out)
    assert body == failed
    health = body["currentRevision"]["health"]
    assert (health["reason"], health["lastTerminationReason"], health["lastExitCode"]) == (
        "CrashLoopBackOff", "OOMKilled", 137,
    )
    assert body["reconciledDeploymentId"] == old_id
    # Rich mode: the revision panel the CLI builds from the health fields.
    rc, out, err = pipecat(rollout, "--output", "rich", "agent", "status", name, tmp_path=tmp_path)
    assert rc == 0, out + err
    assert f"Current  ({new_id[:8]}) Failed · 0 agents" in out
    assert "CrashLoopBackOff (OOMKilled, exit code 137) · 4 restarts across 1 replicas" in out
    assert "MemoryError" in out
    assert f"Previous ({old_id[:8]}) Active · 1 agents" in out
    # The list shows the new deployment; `agent start` refuses the agent that is not ready.
    rc, out, err = pipecat(rollout, "agent", "list", tmp_path=tmp_path)
    assert rc == 0, out + err
    row = next(r for r in records(out, LIST_HEADER) if r[0] == name)
    assert row[3] == new_id
    rc, out, err = pipecat(
        rollout, "agent", "start", name, "--api-key", PUBLIC_KEY, "--force", tmp_path=tmp_path
    )
    assert rc == 1
    assert f"Agent '{name}' does not exist or is not in a healthy state" in out
