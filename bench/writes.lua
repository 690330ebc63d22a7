-- Write workload for understudy, run by bench/run.py's writes section (bench/README.md):
--
--   wrk -t1 -c32 -d8s --latency -s bench/writes.lua http://127.0.0.1:PORT -- KIND [IDS...]
--
-- KIND is create (POST /everruns/v1/agents), update (PATCH /everruns/v1/agents/ID) or delete
-- (DELETE /everruns/v1/agents/ID). IDS are existing (active) agent ids (update and delete).
-- Requests go round-robin to 8 sessions at a time, wb-<thread>-<lane>-<n>, each taking at most
-- 500 writes (below a session's write bound); a delete session deletes each given agent once,
-- so every answer is expected to be 2xx: wrk's own "Non-2xx or 3xx responses" line counts the
-- others. run.py starts a fresh server for each run, so the server's budget for written
-- entities is never reached.
--
-- The load generator must cost next to nothing per request, as a static wrk request does (the
-- detail read it is compared with): each distinct request is formatted once by wrk.format
-- around a placeholder session id, and request() only splices the session id in. There is no
-- response() callback (it makes wrk hand every response's headers and body to Lua).

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local SESSIONS = 8
local PLACEHOLDER = "@@SESSION@@"
local kind, ids, sent, per = "create", {}, 0, 500
-- Each distinct request as (text before the session id, text after it).
local before, after = {}, {}

local function template(method, path, body)
  local headers = {
    ["Authorization"] = "Bearer evr_pat_bench",
    ["Content-Type"] = "application/json",
    ["X-Understudy-Session"] = PLACEHOLDER,
  }
  local r = wrk.format(method, path, headers, body)
  local at = string.find(r, PLACEHOLDER, 1, true)
  before[#before + 1] = string.sub(r, 1, at - 1)
  after[#after + 1] = string.sub(r, at + #PLACEHOLDER)
end

function init(args)
  kind = args[1] or "create"
  for i = 2, #args do ids[#ids + 1] = args[i] end
  if kind == "create" then
    template("POST", "/everruns/v1/agents",
      '{"name":"bench-agent","system_prompt":"You answer benchmark questions.","tags":["bench"]}')
  else
    for _, id in ipairs(ids) do
      if kind == "update" then
        template("PATCH", "/everruns/v1/agents/" .. id, '{"description":"changed"}')
      else
        template("DELETE", "/everruns/v1/agents/" .. id, nil)
      end
    end
    -- A delete session deletes each given agent once.
    if kind == "delete" then per = #ids end
  end
  sent = 0
end

-- The session ids of the current round, one per lane.
local names, named_round = {}, -1

function request()
  local lane = sent % SESSIONS
  local round = math.floor(math.floor(sent / SESSIONS) / per)
  if round ~= named_round then
    for l = 0, SESSIONS - 1 do names[l] = "wb-" .. tid .. "-" .. l .. "-" .. round end
    named_round = round
  end
  local j = 1
  if kind == "update" then
    j = (sent % #ids) + 1
  elseif kind == "delete" then
    j = (math.floor(sent / SESSIONS) % #ids) + 1
  end
  sent = sent + 1
  return before[j] .. names[lane] .. after[j]
end
