-- Write workload for understudy, run by bench/run.py's writes section (bench/README.md):
--
--   wrk -t1 -c32 -d8s --latency -s bench/writes.lua http://127.0.0.1:PORT -- KIND [IDS...]
--
-- KIND is create (POST /everruns/v1/agents), update (PATCH /everruns/v1/agents/ID) or delete
-- (DELETE /everruns/v1/agents/ID). IDS are existing (active) agent ids (update and delete).
-- Requests go round-robin to 8 sessions at a time, wb-<thread>-<lane>-<n>, each taking at most
-- 500 writes (below a session's write bound); a delete session deletes each given agent once,
-- so every answer is expected to be 2xx: the others are counted per status and printed after
-- wrk's summary as `non2xx STATUS COUNT` (or `non2xx none`). run.py starts a fresh server for
-- each run, so the server's budget for written entities is never reached.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local kind, ids, sent = "create", {}, 0

function init(args)
  kind = args[1] or "create"
  for i = 2, #args do ids[#ids + 1] = args[i] end
  sent = 0
  statuses = {}
end

-- Requests are dealt round-robin to SESSIONS sessions at a time (as parallel tests each use
-- their own), each taking at most 500 writes (a delete session: one per given agent).
local SESSIONS = 8

local function session()
  local per = 500
  if kind == "delete" then per = #ids end
  local lane = sent % SESSIONS
  local round = math.floor(math.floor(sent / SESSIONS) / per)
  return "wb-" .. tid .. "-" .. lane .. "-" .. round
end

function request()
  local headers = {
    ["Authorization"] = "Bearer evr_pat_bench",
    ["Content-Type"] = "application/json",
    ["X-Understudy-Session"] = session(),
  }
  local r
  if kind == "create" then
    r = wrk.format("POST", "/everruns/v1/agents", headers,
      '{"name":"bench-agent","system_prompt":"You answer benchmark questions.","tags":["bench"]}')
  elseif kind == "update" then
    local id = ids[(sent % #ids) + 1]
    r = wrk.format("PATCH", "/everruns/v1/agents/" .. id, headers, '{"description":"changed"}')
  else
    local id = ids[(math.floor(sent / SESSIONS) % #ids) + 1]
    r = wrk.format("DELETE", "/everruns/v1/agents/" .. id, headers, nil)
  end
  sent = sent + 1
  return r
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    local k = tostring(status)
    statuses[k] = (statuses[k] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total, any = {}, false
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for k, v in pairs(s) do
        total[k] = (total[k] or 0) + v
        any = true
      end
    end
  end
  if not any then
    io.write("non2xx none\n")
  end
  for k, v in pairs(total) do
    io.write(string.format("non2xx %s %d\n", k, v))
  end
end
