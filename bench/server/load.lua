-- wrk script for neardup-server: POST /v1/search with JPEG bodies read once at start, and, for a mixed
-- load, a PUT /v1/images/{key} every NEARDUP_ADD_EVERY requests. Each thread stops after
-- NEARDUP_REQUESTS answers and leaves a file named after it in NEARDUP_DONE_DIR; bench-server.sh then
-- interrupts wrk (which still reports), so a run is a fixed number of requests and wrk's -d the time bound.
--   NEARDUP_QUERIES   file listing the JPEG paths, one per line
--   NEARDUP_REQUESTS  answers per wrk thread
--   NEARDUP_ADD_EVERY 0 for searches only
--   NEARDUP_TOKEN     bearer token for the adds
--   NEARDUP_RUN       a tag that makes this run's keys unique
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
  limit = tonumber(os.getenv("NEARDUP_REQUESTS") or "100")
  add_every = tonumber(os.getenv("NEARDUP_ADD_EVERY") or "0")
  token = os.getenv("NEARDUP_TOKEN") or ""
  run = os.getenv("NEARDUP_RUN") or "run"
  sent, answered, failed, adds = 0, 0, 0, 0
end

function request()
  sent = sent + 1
  local body = bodies[(sent * 7 + id) % #bodies + 1]
  if add_every > 0 and sent % add_every == 0 then
    return wrk.format("PUT", "/v1/images/" .. run .. "-" .. id .. "-" .. sent,
                      {["Content-Type"] = "image/jpeg", ["Authorization"] = "Bearer " .. token}, body)
  end
  return wrk.format("POST", "/v1/search?top=5", {["Content-Type"] = "image/jpeg"}, body)
end

function response(status, headers, body)
  answered = answered + 1
  if status == 201 then adds = adds + 1 end
  if status ~= 200 and status ~= 201 then failed = failed + 1 end
  if answered == limit then
    local done_dir = os.getenv("NEARDUP_DONE_DIR")
    if done_dir then assert(io.open(done_dir .. "/" .. id, "w")):close() end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local failed_total, adds_total = 0, 0
  for _, t in ipairs(threads) do
    failed_total = failed_total + t:get("failed")
    adds_total = adds_total + t:get("adds")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "adds": %d, "seconds": %.2f, "rps": %.2f, "p50_ms": %.1f, "p95_ms": %.1f, "p99_ms": %.1f, ' ..
    '"max_ms": %.1f, "failed": %d, "socket_errors": %d}\n',
    summary.requests, adds_total, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    failed_total, e.connect + e.read + e.write + e.timeout))
end
