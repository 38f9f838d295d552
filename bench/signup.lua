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
-- BENCH_SOLUTIONS names a file of challenge solutions, one a line, each sent once: thread
-- t of BENCH_THREADS takes lines t, t + n, t + 2n, ...
local solutions = {}

function init(args)
  local path = os.getenv("BENCH_SOLUTIONS")
  local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
  if path then
    local i = 0
    for line in io.lines(path) do
      if i % threads == tid - 1 then solutions[#solutions + 1] = line end
      i = i + 1
    end
  end
end

function request()
  counter = counter + 1
  local extra = ""
  if #solutions > 0 then
    extra = string.format(',"altcha":"%s"', solutions[(counter - 1) % #solutions + 1])
  end
  local body = string.format(
    '{"name":"Reader %d","email":"r%d.%d.%s@example.com","timezone":"Europe/Berlin"%s}',
    counter, tid, counter, tag, extra)
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
