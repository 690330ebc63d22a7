// understudy's dashboard: every action goes through the documented admin API
// (docs/admin-api.yaml); the page keeps no state of its own beyond what it shows.
"use strict";

const ADMIN = "/__understudy";
const MAX_ROWS = 500;

// With --admin-token, the page is opened as /__understudy/ui#token=TOKEN (the part after #
// never reaches a server or its logs): kept for this tab only, sent as a header, and taken
// out of the address bar.
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.has("token")) {
  sessionStorage.setItem("understudy-admin-token", fragment.get("token"));
  history.replaceState(null, "", location.pathname + location.search);
}
const TOKEN = sessionStorage.getItem("understudy-admin-token");

const state = {
  session: "default",
  since: 0,
  requests: [],
  open: new Set(),
  data: { api: null, collection: null, key: null, offset: 0, limit: 20, total: 0, selected: null },
  ticking: false,
};

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text: nothing is parsed as HTML). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    // Through the CSSOM: the page's Content-Security-Policy refuses inline style attributes.
    else if (k === "style") Object.assign(e.style, v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

/** An admin call in the selected session; throws with the API's error message. */
async function call(method, path, body) {
  const headers = { "X-Understudy-Session": state.session };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  const opts = { method, headers };
  if (method === "POST") {
    headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body ?? {});
  }
  const r = await fetch(ADMIN + path, opts);
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  if (!r.ok) throw new Error((json && json.error) || `${method} ${path}: ${r.status}`);
  return json;
}

let statusTimer = null;
function say(message) {
  $("status").textContent = message;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { $("status").textContent = ""; }, 6000);
}

/** Run an action, then refresh everything it may have changed. */
async function act(f) {
  try { await f(); } catch (e) { say(e.message); }
  await tick();
}

const seconds = (ms) => (ms / 1000).toFixed(ms % 1000 ? 1 : 0) + " s";

// ---- Sessions ---------------------------------------------------------------------------

function selectSession(id) {
  if (!id || id === state.session) return;
  state.session = id;
  state.since = 0;
  state.requests = [];
  state.open.clear();
  state.data.selected = null;
  $("session-input").value = id;
  $("entity").textContent = "";
  renderRequests();
  tick();
}

async function refreshSessions() {
  const { sessions } = await call("GET", "/sessions");
  const ids = new Set(sessions.map((s) => s.session));
  const list = $("sessions");
  list.replaceChildren(
    ...sessions.map((s) => el("li", {},
      el("button", {
        type: "button",
        "data-session": s.session,
        "aria-current": s.session === state.session ? "true" : "false",
        onclick: () => selectSession(s.session),
      }, s.session,
      el("small", { text: `clock ${seconds(s.clock_ms)} · ${s.requests} requests` +
        (s.scenarios.length ? ` · ${s.scenarios.join(", ")}` : "") })))),
  );
  if (!ids.has(state.session)) {
    list.prepend(el("li", {}, el("small", { text: `${state.session}: no requests yet` })));
  }
  $("session-list").replaceChildren(...[...ids].map((id) => el("option", { value: id })));
}

// ---- Scenarios --------------------------------------------------------------------------

function triggerText(t) {
  switch (t.kind) {
    case "at": return `at +${seconds(t.after_ms)} (clock ${seconds(t.due_ms)})`;
    case "request": return `on request ${t.count} of ${t.method || "*"} ${t.path} (${t.seen} seen)`;
    case "manual": return "manual";
    default: return "immediate";
  }
}

/** Where each step sits on the time axis (ms), or null when its time is not known yet. */
function stepTime(s) {
  if (s.fired_at_ms !== null && s.fired_at_ms !== undefined) return s.fired_at_ms;
  if (s.trigger.kind === "at") return s.trigger.due_ms;
  return null;
}

function renderScenario(a, clockMs) {
  const times = a.timeline.map(stepTime).filter((t) => t !== null);
  const start = a.started_at_ms;
  const end = Math.max(clockMs, ...times, start + 1);
  const pos = (t) => `${(100 * (t - start)) / (end - start)}%`;
  const untimed = a.timeline.filter((s) => stepTime(s) === null).length;
  let k = 0;
  const marks = a.timeline.map((s, i) => {
    const t = stepTime(s);
    // Steps with no time yet (manual, on request) wait past the end of the axis.
    const left = t === null ? `${100 - 4 * (untimed - k++)}%` : pos(t);
    return [
      el("span", { class: "mark", "data-status": s.status, "data-step": s.name, style: { left },
        title: `${s.name}: ${s.status}, ${triggerText(s.trigger)}` }),
      // Every other label a line lower, so that steps close in time stay readable.
      el("span", { class: i % 2 ? "label low" : "label", style: { left }, text: s.name }),
    ];
  });
  const nextStep = a.timeline.find((s) => s.status === "next");
  return el("div", { class: "scenario", "data-scenario": a.name },
    el("header", {},
      el("strong", { text: a.name }),
      el("small", { text: `${a.api} · ${a.fired.length}/${a.steps} fired` }),
      el("button", { type: "button", "data-action": "stop", onclick: () => act(() => call("POST", `/scenarios/${encodeURIComponent(a.name)}/stop`)) }, "Stop"),
      // Reset one scenario: stop it, start it again (from the session's clock now).
      el("button", { type: "button", "data-action": "restart", onclick: () => act(async () => {
        await call("POST", `/scenarios/${encodeURIComponent(a.name)}/stop`);
        await call("POST", `/scenarios/${encodeURIComponent(a.name)}/start`);
      }) }, "Restart"),
      nextStep && nextStep.trigger.kind === "manual"
        ? el("button", { type: "button", class: "primary", "data-action": "next", onclick: () => act(() => call("POST", `/scenarios/${encodeURIComponent(a.name)}/next`)) }, `Fire ${nextStep.name}`)
        : null),
    a.failed ? el("p", { class: "failed", text: `failed: ${a.failed}` }) : null,
    el("div", { class: "axis", role: "img", "aria-label": `timeline of ${a.name}` },
      ...marks.flat(),
      el("span", { class: "now", style: { left: pos(Math.min(clockMs, end)) } })),
    el("ul", { class: "steps" }, ...a.timeline.map((s) => el("li", { "data-step": s.name, "data-status": s.status },
      el("span", { class: "badge", "data-status": s.status, text: s.status }),
      el("span", {},
        el("strong", { text: s.name }), " ",
        el("small", { text: triggerText(s.trigger) + (s.fired_at_ms !== null ? ` · fired at ${seconds(s.fired_at_ms)}` : "") }),
        s.touched.length
          ? el("div", { class: "touched" }, ...s.touched.map((key) => el("button", {
            type: "button", title: "show in Data", "data-key": key,
            onclick: () => showEntity(a.api, a.collection, key),
          }, key)))
          : null)))));
}

async function refreshScenarios() {
  const [{ available, active }, st] = await Promise.all([
    call("GET", "/scenarios"),
    call("GET", "/state"),
  ]);
  $("clock").textContent = `clock ${seconds(st.clock_ms)} · ${st.now}`;
  $("active").replaceChildren(...(active.length
    ? active.map((a) => renderScenario(a, st.clock_ms))
    : [el("p", { class: "muted", text: "No scenario is active in this session." })]));
  const running = new Set(active.map((a) => a.name));
  $("available").replaceChildren(...available.map((s) => el("li", { "data-scenario": s.name },
    el("span", {}, el("strong", { text: s.name }), " ", el("small", { text: `${s.api} · ${s.description}` })),
    el("button", {
      type: "button", "data-action": "start", disabled: running.has(s.name),
      onclick: () => act(() => call("POST", `/scenarios/${encodeURIComponent(s.name)}/start`)),
    }, "Start"))));
}

// ---- Live requests ----------------------------------------------------------------------

async function refreshRequests() {
  const session = state.session;
  const q = new URLSearchParams({ session, since: String(state.since), limit: String(MAX_ROWS) });
  const { requests, matched } = await call("GET", `/requests?${q}`);
  // The session changed while this was asked: its answer belongs to the old one.
  if (session !== state.session || !requests.length) return false;
  const known = new Set(state.requests.map((r) => r.id));
  const fresh = requests.filter((r) => !known.has(r.id));
  state.since = Math.max(state.since, ...requests.map((r) => r.id));
  state.requests = fresh.concat(state.requests).slice(0, MAX_ROWS);
  if (matched > requests.length) say(`${matched - requests.length} older requests not shown`);
  return fresh.length > 0;
}

function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

function detail(r) {
  const part = (title, headers, body) => el("div", {},
    el("h3", { text: title }),
    el("pre", { text: Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join("\n") }),
    body.size ? el("pre", { text: pretty(body.text) + (body.truncated ? `\n… (${body.size} bytes in all)` : "") }) : null);
  return el("td", { colspan: 6 },
    part(`${r.method} ${r.path}${r.query ? "?" + r.query : ""}`, r.headers, r.body),
    part(`${r.status}${r.scenario ? ` (scenario ${r.scenario.name}, step ${r.scenario.step_name})` : ""}`, r.response.headers, r.response.body),
    r.matched ? null : el("p", { text: "No operation matched this request: see its near misses with GET /__understudy/requests/" + r.id }));
}

function renderRequests() {
  const api = $("filter-api").value;
  const cls = $("filter-status").value;
  const shown = state.requests.filter((r) =>
    (!api || r.api === api) && (!cls || String(r.status)[0] === cls[0]));
  const rows = [];
  for (const r of shown) {
    const classes = ["row", r.status >= 400 ? "error" : "", r.scenario ? "scripted" : ""].filter(Boolean).join(" ");
    rows.push(el("tr", {
      class: classes, "data-id": r.id, "data-path": r.path, "data-status": r.status,
      onclick: () => { state.open.has(r.id) ? state.open.delete(r.id) : state.open.add(r.id); renderRequests(); },
    },
    el("td", { text: r.id }),
    el("td", { text: r.at.slice(11, 19) }),
    el("td", { class: "path", text: `${r.method} ${r.path}${r.query ? "?" + r.query : ""}` }),
    el("td", { class: "st", text: r.status }),
    el("td", { text: r.operation ? `${r.api} · ${r.operation.id || r.operation.path}` : "unmatched" }),
    el("td", { text: r.latency_ms.toFixed(2) })));
    if (state.open.has(r.id)) rows.push(el("tr", { class: "detail" }, detail(r)));
  }
  $("requests").tBodies[0].replaceChildren(...rows);
}

// ---- Data -------------------------------------------------------------------------------

async function refreshCollections() {
  const { apis } = await call("GET", "/data");
  const sel = $("data-collection");
  const current = sel.value;
  sel.replaceChildren(...apis.flatMap((a) => a.collections.map((c) =>
    el("option", { value: `${a.api}/${c.name}`, text: `${a.api} / ${c.name} (${c.count})` }))));
  if (current) sel.value = current;
  if (!sel.value && sel.options.length) sel.value = sel.options[0].value;
  const filter = $("filter-api");
  const chosen = filter.value;
  filter.replaceChildren(el("option", { value: "", text: "all" }),
    ...apis.map((a) => el("option", { value: a.api, text: a.api })));
  filter.value = chosen;
}

async function refreshData() {
  const [api, collection] = $("data-collection").value.split("/");
  if (!api) return;
  const d = state.data;
  if (api !== d.api || collection !== d.collection) {
    Object.assign(d, { api, collection, offset: 0, selected: null });
    $("entity").textContent = "";
  }
  const q = new URLSearchParams({ offset: String(d.offset), limit: String(d.limit) });
  const page = await call("GET", `/data/${encodeURIComponent(api)}/${encodeURIComponent(collection)}?${q}`);
  d.key = page.key;
  d.total = page.total;
  $("data-page").textContent = page.total
    ? `${d.offset + 1}–${Math.min(d.offset + d.limit, page.total)} of ${page.total}` : "empty";
  $("data-items").replaceChildren(...page.items.map((e) => {
    const key = String(e[d.key]);
    return el("li", {}, el("button", {
      type: "button", "data-key": key, "aria-current": key === d.selected ? "true" : "false",
      onclick: () => showEntity(api, collection, key),
    }, key));
  }));
  if (d.selected) await loadEntity();
}

async function loadEntity() {
  const d = state.data;
  try {
    const e = await call("GET", `/data/${encodeURIComponent(d.api)}/${encodeURIComponent(d.collection)}/${encodeURIComponent(d.selected)}`);
    $("entity").textContent = JSON.stringify(e, null, 2);
  } catch (err) {
    $("entity").textContent = err.message;
  }
}

async function showEntity(api, collection, key) {
  const sel = $("data-collection");
  const coll = collection || [...sel.options].map((o) => o.value).find((v) => v.startsWith(api + "/"))?.split("/")[1];
  if (!coll) return;
  sel.value = `${api}/${coll}`;
  state.data.selected = key;
  await refreshData();
  state.data.selected = key;
  await loadEntity();
  $("entity").scrollIntoView({ block: "nearest" });
}

// ---- Polling ----------------------------------------------------------------------------

// One refresh at a time; one asked for meanwhile runs right after (never two at once, which
// would ask for the same requests twice).
let again = false;
async function tick() {
  if (state.ticking) { again = true; return; }
  state.ticking = true;
  try {
    await Promise.all([refreshSessions(), refreshScenarios(), refreshCollections()]);
    if (await refreshRequests()) renderRequests();
    await refreshData();
  } catch (e) {
    say(e.message);
  } finally {
    state.ticking = false;
    if (again) { again = false; tick(); }
  }
}

$("session-form").addEventListener("submit", (e) => {
  e.preventDefault();
  selectSession($("session-input").value.trim());
});
$("advance-form").addEventListener("submit", (e) => {
  e.preventDefault();
  act(() => call("POST", "/clock/advance", { by: $("advance-by").value.trim() }));
});
$("reset").addEventListener("click", () => act(() => call("POST", "/reset")));
$("clear-requests").addEventListener("click", () => act(async () => {
  await call("DELETE", `/requests?session=${encodeURIComponent(state.session)}`);
  state.requests = [];
  renderRequests();
}));
$("filter-api").addEventListener("change", renderRequests);
$("filter-status").addEventListener("change", renderRequests);
$("data-collection").addEventListener("change", () => act(refreshData));
$("data-prev").addEventListener("click", () => act(async () => {
  state.data.offset = Math.max(0, state.data.offset - state.data.limit);
  await refreshData();
}));
$("data-next").addEventListener("click", () => act(async () => {
  if (state.data.offset + state.data.limit < state.data.total) state.data.offset += state.data.limit;
  await refreshData();
}));

const fromUrl = new URLSearchParams(location.search).get("session");
if (fromUrl) { state.session = fromUrl; $("session-input").value = fromUrl; }
tick();
setInterval(tick, 1000);
