-- wrk script of the ingest benchmark: POST the same signed `issues.labeled` body with a unique
-- X-GitHub-Delivery per request, count the answers that are not 2xx, and print one JSON line at the end.
--
--   wrk -t2 -c32 -d10s --latency -s deliver.lua URL -- BODY_FILE SIGNATURE RUN_ID
--
-- BODY_FILE holds the exact bytes SIGNATURE (sha256=<hex HMAC>) was computed over; RUN_ID (8 hex digits)
-- keeps delivery ids apart between runs against the same Redis. The delivery id is shaped like
-- GitHub's (a UUID): RUN_ID-<thread>-4000-8000-<counter>.

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"), "cannot read the body file " .. tostring(args[1]))
  body = file:read("*a")
  file:close()
  signature = args[2]
  run_id = args[3]
  counter = 0
  ok = 0
  non2xx = 0
  first_failure = ""
end

function request()
  counter = counter + 1
  local delivery = string.format("%s-%04x-4000-8000-%012x", run_id, thread_id, counter)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "issues",
    ["X-GitHub-Delivery"] = delivery,
    ["X-Hub-Signature-256"] = signature,
    ["User-Agent"] = "GitHub-Hookshot/specloop-bench",
  }, body)
end

function response(status, headers, response_body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    non2xx = non2xx + 1
    if first_failure == "" then
      first_failure = status .. " " .. string.sub(response_body or "", 1, 200)
    end
  end
end

local function quote(text)
  return '"' .. string.gsub(text, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

function done(summary, latency, requests)
  local sent, answered_ok, failed, failure = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    sent = sent + thread:get("counter")
    answered_ok = answered_ok + thread:get("ok")
    failed = failed + thread:get("non2xx")
    if failure == "" then failure = thread:get("first_failure") end
  end
  local e = summary.errors
  io.write(string.format(
    'DELIVER_RESULT {"requests": %d, "duration_us": %d, "sent": %d, "ok": %d, "non2xx": %d, '
      .. '"first_failure": %s, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, sent, answered_ok, failed, quote(failure),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
