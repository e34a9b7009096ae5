-- wrk script for `make bench` (bench/run.py writes the settings into the environment).
--
--   BENCH_METHOD     GET or POST
--   BENCH_PATH       the path; with BENCH_IDS_FILE, "{id}" in it is replaced by the next id
--   BENCH_IDS_FILE   optional: one id per line, each used ONCE (submit); the threads share the
--                    list out between them and stop when their share is used up
--   BENCH_COOKIE     the Cookie header of the signed-in person (empty: anonymous)
--   BENCH_BODY_FILE  optional: the url-encoded request body (POST)
--   BENCH_EXPECT     the status every response must have (200, or 302 for a form POST)
--   BENCH_UA         User-Agent, the same one the sign-in used (Flask-Login's session
--                    protection compares it)
--   BENCH_THREADS    wrk's -t, so that each thread knows its share of BENCH_IDS_FILE
--
-- done() prints one line "BENCH_JSON {...}" with rps, latency percentiles (ms), bytes and the
-- responses that did not have the expected status (or that redirected to the sign-in page).

local function read_file(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. path)
  local data = f:read("*a")
  f:close()
  return data
end

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local ids_file = os.getenv("BENCH_IDS_FILE") or ""
local cookie = os.getenv("BENCH_COOKIE") or ""
local body_file = os.getenv("BENCH_BODY_FILE") or ""
local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")
local ua = os.getenv("BENCH_UA") or "common-ground-bench"
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")

-- Wall-clock microseconds (LuaJIT ffi): when the ids run out before --duration, wrk still
-- divides by the whole duration, so done() reports the seconds actually spent as well.
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1e6 + tonumber(tv.tv_usec)
end

local headers = { ["User-Agent"] = ua, ["Accept"] = "text/html,application/json" }
if cookie ~= "" then headers["Cookie"] = cookie end
local body = nil
if body_file ~= "" then
  body = read_file(body_file)
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  headers["X-Requested-With"] = "fetch"
end

-- setup() runs in the main Lua state, once per thread, before that thread's init().
local threads = {}
local counter = 0
function setup(thread)
  thread:set("tindex", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

-- Per-thread state (each thread has its own Lua state).
status_counts = {}
unexpected = 0
login_redirects = 0
overrun = 0
first_us = 0
last_us = 0
local ids = nil
local next_id = 1
local fixed_request = nil

function init(args)
  if ids_file ~= "" then
    ids = {}
    local k = 0
    for line in io.lines(ids_file) do
      if line ~= "" then
        if k % nthreads == tindex then table.insert(ids, line) end
        k = k + 1
      end
    end
  else
    fixed_request = wrk.format(method, path, headers, body)
  end
end

function request()
  if first_us == 0 then first_us = now_us() end
  if fixed_request then return fixed_request end
  local id = ids[next_id]
  if id == nil then
    -- This thread's share is used up: stop it. The request returned here (the last id again,
    -- which the app answers idempotently) may still go out on a busy connection; it is counted.
    overrun = overrun + 1
    wrk.thread:stop()
    id = ids[#ids] or "0"
  else
    next_id = next_id + 1
  end
  return wrk.format(method, (path:gsub("{id}", id)), headers, body)
end

function response(status, hdrs, resp_body)
  last_us = now_us()
  local key = tostring(status)
  status_counts[key] = (status_counts[key] or 0) + 1
  if status ~= expect then unexpected = unexpected + 1 end
  local location = hdrs["Location"] or hdrs["location"]
  if location and location:find("/login", 1, true) then login_redirects = login_redirects + 1 end
end

local function json_table(t)
  local parts = {}
  for k, v in pairs(t) do table.insert(parts, string.format("%q:%d", tostring(k), v)) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local statuses, bad, logins, over = {}, 0, 0, 0
  local first, last = nil, 0
  for _, thread in ipairs(threads) do
    local f = thread:get("first_us") or 0
    if f > 0 and (first == nil or f < first) then first = f end
    last = math.max(last, thread:get("last_us") or 0)
    local counts = thread:get("status_counts") or {}
    for k, v in pairs(counts) do statuses[k] = (statuses[k] or 0) + v end
    bad = bad + (thread:get("unexpected") or 0)
    logins = logins + (thread:get("login_redirects") or 0)
    over = over + (thread:get("overrun") or 0)
  end
  local seconds = summary.duration / 1e6
  local active = seconds
  if first ~= nil and last > first then active = (last - first) / 1e6 end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"seconds":%.3f,"active_seconds":%.3f,"rps":%.2f,"bytes":%d,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p95_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,' ..
    '"unexpected":%d,"login_redirects":%d,"overrun":%d,"statuses":%s,' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"status_errors":%d}\n',
    summary.requests, seconds, active, summary.requests / seconds, summary.bytes,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    bad, logins, over, json_table(statuses),
    e.connect, e.read, e.write, e.timeout, e.status))
end
