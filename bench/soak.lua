-- Mixed soak workload for understudy, run by bench/run.py (see bench/README.md):
--
--   wrk -t2 -c256 -d60s --latency -s bench/soak.lua http://127.0.0.1:PORT -- \
--       EVERRUNS_ID VECTARA_KEY LETTA_ID PIPECAT_NAME [SESSIONS [PAUSE_MS]]
--
-- The four arguments after `--` are existing agents (run.py takes the first agent of each list);
-- SESSIONS (default 8) is the number of X-Understudy-Session ids used (soak-1 .. soak-N; run.py
-- starts the failed-rollout scenario in half of them first). The workload is a fixed list of
-- details, pages and filtered lists across the four APIs, each sent once without a session
-- header and once with one of the session ids; each wrk thread walks the list from its own
-- offset, dealing the requests to its connections in turn. Every answer is expected to be 2xx: the script counts the others per status and prints
-- them after wrk's summary as lines `non2xx STATUS COUNT` (and `non2xx none` when there were none).
--
-- PAUSE_MS (default 0: none) paces the load: each connection waits a random 0.5x to 1.5x
-- PAUSE_MS after an answer before it sends again, so 256 connections offer about
-- 256 * 1000 / (PAUSE_MS + latency in ms) requests per second instead of as many as the server
-- can answer. wrk
-- measures a request's latency from the moment it is written, so the pause is not counted.

local threads = {}

function setup(thread)
  thread:set("offset", #threads * 7)
  table.insert(threads, thread)
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

function init(args)
  local everruns_id = args[1] or "unknown"
  local vectara_key = args[2] or "unknown"
  local letta_id = args[3] or "unknown"
  local pipecat_name = args[4] or "unknown"
  local sessions = tonumber(args[5] or "8")
  local pause = tonumber(args[6] or "0") or 0
  if pause > 0 then
    -- wrk looks for a global `delay` after init: defined only when pacing is asked for.
    math.randomseed(offset or 0)
    function delay()
      return math.floor(pause * (0.5 + math.random()) + 0.5)
    end
  end

  local bearer = { ["Authorization"] = "Bearer t" }
  local apikey = { ["x-api-key"] = "k" }
  local plan = {
    -- Everruns: detail (twice: the most common call), list, word search
    { "/everruns/v1/agents/" .. everruns_id, bearer },
    { "/everruns/v1/agents/" .. everruns_id, bearer },
    { "/everruns/v1/agents", bearer },
    { "/everruns/v1/agents?search=support", bearer },
    -- Vectara: detail, page of 10, regular-expression filter, enabled filter
    { "/vectara/v2/agents/" .. vectara_key, apikey },
    { "/vectara/v2/agents?limit=10", apikey },
    { "/vectara/v2/agents?limit=10&filter=support.*", apikey },
    { "/vectara/v2/agents?limit=25&enabled=true", apikey },
    -- Letta: detail, page of 50, small pages with free-text and ordering
    { "/letta/v1/agents/" .. letta_id, bearer },
    { "/letta/v1/agents/?limit=50", bearer },
    { "/letta/v1/agents/?limit=10&query_text=bot", bearer },
    { "/letta/v1/agents/?limit=20&order=asc&order_by=updated_at", bearer },
    -- Pipecat Cloud: detail, list, list by region, list with deployments
    { "/pipecat-cloud/v1/agents/" .. pipecat_name, bearer },
    { "/pipecat-cloud/v1/agents", bearer },
    { "/pipecat-cloud/v1/agents?region=us-west", bearer },
    { "/pipecat-cloud/v1/agents?includeActiveDeployment=true", bearer },
  }

  requests = {}
  local s = 0
  for _, p in ipairs(plan) do
    table.insert(requests, wrk.format("GET", p[1], p[2]))
    local h = copy(p[2])
    h["X-Understudy-Session"] = "soak-" .. (s % sessions + 1)
    s = s + 1
    table.insert(requests, wrk.format("GET", p[1], h))
  end
  index = offset or 0
  statuses = {}
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    local k = tostring(status)
    statuses[k] = (statuses[k] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total = {}
  local any = false
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
