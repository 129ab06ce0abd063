-- wrk script for bench/redeem.py: POST redeemReward mutations with an API key.
--
-- Environment (set by bench/redeem.py):
--   REDEEM_PAIRS  file with one "memberId rewardId" pair per line (the request mix)
--   REDEEM_TOKEN  API key (gk_...) sent as "Authorization: Bearer ..."
--   REDEEM_IDEM   "1" to send a fresh idempotencyKey with every request
--   REDEEM_NONCE  makes idempotency keys unique per wrk run
--
-- Every thread walks the pair list from its own offset, so the threads do not send
-- the same member at the same moment. done() prints one line "WRK_JSON {...}" that
-- bench/redeem.py parses: counts, errors and latency percentiles (microseconds).

local QUERY = "mutation Redeem($r: ID!, $m: ID, $k: String) { "
  .. "redeemReward(rewardId: $r, quantity: 1, memberId: $m, idempotencyKey: $k) "
  .. "{ redemption { id status } errors { code } } }"

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

local pairs_list = {}
local n = 0
local i = 0
local idem = false
local nonce = ""
local headers = {}
-- Globals, not locals: done() reads them from each thread with thread:get().
ok, gql_errors, bad_status = 0, 0, 0
sample = ""

function init(args)
  local path = os.getenv("REDEEM_PAIRS")
  local file = assert(io.open(path, "r"), "cannot open REDEEM_PAIRS " .. tostring(path))
  for line in file:lines() do
    local m, r = line:match("^(%S+)%s+(%S+)$")
    if m then
      n = n + 1
      pairs_list[n] = { m, r }
    end
  end
  file:close()
  assert(n > 0, "no pairs in " .. path)
  idem = os.getenv("REDEEM_IDEM") == "1"
  nonce = os.getenv("REDEEM_NONCE") or "0"
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. os.getenv("REDEEM_TOKEN")
  -- tid is set by setup() before init() runs in the thread's own Lua state.
  local threads_total = tonumber(os.getenv("REDEEM_THREADS") or "1")
  i = math.floor((tid - 1) * n / threads_total)
end

function request()
  i = i + 1
  local pair = pairs_list[(i % n) + 1]
  local key = "null"
  if idem then
    key = '"' .. nonce .. "-" .. tid .. "-" .. i .. '"'
  end
  local body = '{"query":"' .. QUERY .. '","variables":{"r":"' .. pair[2]
    .. '","m":"' .. pair[1] .. '","k":' .. key .. "}}"
  return wrk.format("POST", "/graphql", headers, body)
end

function response(status, _headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
    if sample == "" then sample = "HTTP " .. status .. ": " .. string.sub(body or "", 1, 300) end
  elseif string.find(body, '"status":"REDEEMED"', 1, true) then
    ok = ok + 1
  else
    gql_errors = gql_errors + 1
    if sample == "" then sample = string.sub(body or "", 1, 300) end
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
      .. '"status_errors":%d,"lat_mean":%.1f,"lat_max":%d,'
      .. '"p50":%d,"p90":%d,"p99":%d,"p999":%d,"sample":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    t_ok, t_gql, t_status,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), json_string(t_sample)))
end
