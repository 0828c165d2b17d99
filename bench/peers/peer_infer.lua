-- wrk script for the peer (or any V2 server): POSTs one request body over and over.
--
--   wrk -t1 -c1 -d5s --latency -s bench/peers/peer_infer.lua \
--       http://127.0.0.1:8100/v2/models/fashion_cnn/infer
--
-- PEER_BODY names the body (default examples/infer_cnn_1.json, relative to the
-- directory wrk runs in). Non-200 replies are counted, and done() prints one line
-- "PEER_WRK {json}" with requests, req/s, latency percentiles (us) and errors.

local path = os.getenv("PEER_BODY") or "examples/infer_cnn_1.json"
local f = assert(io.open(path, "rb"), "cannot open request body " .. path)
wrk.method = "POST"
wrk.body = f:read("*a")
wrk.headers["Content-Type"] = "application/json"
f:close()

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non200") or 0)
  end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'PEER_WRK {"requests":%d,"seconds":%.3f,"rps":%.1f,"non200":%d,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_timeout":%d,' ..
    '"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"max_us":%.1f}\n',
    summary.requests, seconds, summary.requests / seconds, bad,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
