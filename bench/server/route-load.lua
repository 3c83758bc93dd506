-- wrk script for the scale simulation (bench/sim-scale.sh): POST /v1/search with the JPEG bodies listed in
-- NEARDUP_QUERIES (read once at start), for wrk's -d. Counts the answers that are not 200 and the 200s that
-- name missing shards ("partial": true), and prints one JSON line.
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  for path in io.lines(os.getenv("NEARDUP_QUERIES")) do
    local f = assert(io.open(path, "rb"))
    table.insert(bodies, f:read("*a"))
    f:close()
  end
  sent, failed, partial = 0, 0, 0
end

function request()
  sent = sent + 1
  return wrk.format("POST", "/v1/search?top=5", {["Content-Type"] = "image/jpeg"}, bodies[(sent * 7 + id) % #bodies + 1])
end

function response(status, headers, body)
  if status ~= 200 then failed = failed + 1
  elseif string.find(body, '"partial":true', 1, true) then partial = partial + 1 end
end

function done(summary, latency, requests)
  local failed_total, partial_total = 0, 0
  for _, t in ipairs(threads) do
    failed_total = failed_total + t:get("failed")
    partial_total = partial_total + t:get("partial")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.2f, "rps": %.2f, "p50_ms": %.1f, "p99_ms": %.1f, "non_200": %d, "partial": %d, ' ..
    '"socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, failed_total, partial_total,
    e.connect + e.read + e.write + e.timeout))
end
