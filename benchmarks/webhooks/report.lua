-- Appended to every webhook load script: counts what the server acknowledged and prints one
-- JSON line. Only HTTP 200 counts as acknowledged; ``"stored": 1`` in the body means a new row
-- (0 would be a duplicate, i.e. a generator bug). ``sent`` counts request() calls, so
-- sent - answered = requests still in flight when wrk stopped (or timed out).
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

sent, acked, stored, non200, non2xx = 0, 0, 0, 0, 0

function response(status, headers, body)
  if status == 200 then
    acked = acked + 1
    if string.find(body, '"stored": 1', 1, true) then stored = stored + 1 end
  else
    non200 = non200 + 1
    if status < 200 or status > 299 then non2xx = non2xx + 1 end
  end
end

function done(summary, latency, requests)
  local s, a, st, n, x = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent")
    a = a + t:get("acked")
    st = st + t:get("stored")
    n = n + t:get("non200")
    x = x + t:get("non2xx")
  end
  local e = summary.errors
  io.stderr:write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "errors": %d, "status_errors": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "sent": %d, "acked": %d, "stored": %d, "non200": %d, "non2xx": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, s, a, st, n, x))
end
