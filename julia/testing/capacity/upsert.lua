-- wrk's script for julia.testing.capacity.wrk: each request a real Evolution messages.upsert body of a
-- seeded doctor (one per line of the bodies file, "@ID@" where the message id goes), with an id unique
-- to this run, thread and request; at the end one line "WRKJSON {...}" the runner parses.
local bodies, path, prefix, key = {}, os.getenv("WRK_BODIES"), os.getenv("WRK_PREFIX"), os.getenv("WRK_APIKEY")
local threads, counter = {}, 0
tid = 0  -- a global: setup() sets it in each thread (thread:set)

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(path) do
    table.insert(bodies, line)
  end
  wrk.method = "POST"
  wrk.path = "/webhooks/evolution"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["apikey"] = key
end

function request()
  counter = counter + 1
  local id = prefix .. tid .. "x" .. counter
  local body = bodies[(counter - 1) % #bodies + 1]:gsub("@ID@", id)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, ' ..
    '"max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max))
end
