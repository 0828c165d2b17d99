-- wrk script: POSTs one real Fashion-MNIST test image to Ferry's V2 infer endpoint.
--
--   wrk -t1 -c1 -d10s --latency -s bench/infer.lua http://127.0.0.1:8000/v2/models/fashion_cnn/infer
--
-- FERRY_BENCH_BODY names the request body (default examples/infer_cnn_1.json, relative to
-- the directory wrk runs in). Every response that is not a 200 is counted and reported,
-- and done() prints one machine-readable line starting with "FERRY_WRK " (JSON) that
-- bench/run_bench.sh parses: requests, duration, req/s, latency percentiles, errors.

local body_path = os.getenv("FERRY_BENCH_BODY") or "examples/infer_cnn_1.json"
local f = assert(io.open(body_path, "rb"), "cannot open request body " .. body_path)
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
  first_bad = ""
end

-- Defining response() makes wrk hand each reply to Lua; the cost is a few µs per
-- response on the client side, paid in every run alike.
function response(status, headers, resp_body)
  if status ~= 200 then
    non200 = non200 + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(resp_body or "", 1, 120)
    end
  end
end

local function json_string(s)
  s = string.gsub(s, '[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local bad, example = 0, ""
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non200") or 0)
    local e = t:get("first_bad")
    if example == "" and e ~= nil then example = e end
  end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  if bad > 0 then
    io.write(string.format("non-200 responses: %d (first: %s)\n", bad, (string.gsub(example, "%c", " "))))
  else
    io.write("non-200 responses: 0\n")
  end
  io.write(string.format(
    'FERRY_WRK {"requests":%d,"seconds":%.3f,"rps":%.1f,"non200":%d,"first_non200":%s,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_timeout":%d,' ..
    '"latency_mean_us":%.1f,"latency_max_us":%.1f,' ..
    '"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"p999_us":%.1f}\n',
    summary.requests, seconds, summary.requests / seconds, bad, json_string(example),
    e.connect, e.read, e.write, e.timeout,
    latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
