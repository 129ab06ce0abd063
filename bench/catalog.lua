-- wrk script for bench/catalog.py: POST the widget's catalog read with member tokens.
--
-- Environment (set by bench/catalog.py):
--   CATALOG_BODY    file holding the JSON request body (the same for every request)
--   CATALOG_TOKENS  file with one member token per line, sent as "Authorization: Bearer ..."
--                   (each thread walks the list from its own offset)
--   CATALOG_THREADS wrk's thread count
--
-- A response counts as ok when it is HTTP 200 with a catalog and no "errors" key.
-- done() prints one line "WRK_JSON {...}" that bench/catalog.py parses: counts, errors
-- and latency percentiles (microseconds).

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

local body = ""
local tokens = {}
local n = 0
local i = 0
-- Globals, not locals: done() reads them from each thread with thread:get().
ok, gql_errors, bad_status = 0, 0, 0
sample = ""

local function read_all(path)
  local file = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  local text = file:read("*a")
  file:close()
  return text
end

function init(args)
  body = read_all(os.getenv("CATALOG_BODY"))
  for line in read_all(os.getenv("CATALOG_TOKENS")):gmatch("[^\n]+") do
    n = n + 1
    tokens[n] = line
  end
  assert(n > 0, "no tokens")
  -- tid is set by setup() before init() runs in the thread's own Lua state.
  local threads_total = tonumber(os.getenv("CATALOG_THREADS") or "1")
  i = math.floor((tid - 1) * n / threads_total)
end

function request()
  i = i + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[(i % n) + 1],
  }
  return wrk.format("POST", "/graphql", headers, body)
end

function response(status, _headers, resp)
  if status ~= 200 then
    bad_status = bad_status + 1
    if sample == "" then sample = "HTTP " .. status .. ": " .. string.sub(resp or "", 1, 300) end
  elseif string.find(resp, '"catalog":{"nodes":[', 1, true)
      and not string.find(resp, '"errors"', 1, true) then
    ok = ok + 1
  else
    gql_errors = gql_errors + 1
    if sample == "" then sample = string.sub(resp or "", 1, 300) end
  end
end

local function json_string(s)
  s = string.gsub(s, "\\", "\\\\")
  s = string.gsub(s, '"', '\\"')
  s = string.gsub(s, "[%c]", " ")
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local t_ok, t_gql, t_status, t_sample = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    t_ok = t_ok + (thread:get("ok") or 0)
    t_gql = t_gql + (thread:get("gql_errors") or 0)
    t_status = t_status + (thread:get("bad_status") or 0)
    local s = thread:get("sample") or ""
    if t_sample == "" then t_sample = s end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"ok":%d,"gql_errors":%d,"bad_status":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
      .. '"p50":%d,"p90":%d,"p99":%d,"p999":%d,"sample":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    t_ok, t_gql, t_status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), json_string(t_sample)))
end
