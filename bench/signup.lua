-- wrk script for the signup bench: every request is a valid, distinct JSON signup.
-- BENCH_TAG makes addresses unique across runs; the summary goes to stdout as one JSON line.

local tag = os.getenv("BENCH_TAG") or "run"
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"Reader %d","email":"r%d.%d.%s@example.com","timezone":"Europe/Berlin"}',
    counter, tid, counter, tag)
  return wrk.format("POST", "/api/subscribe", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
