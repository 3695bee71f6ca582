-- Alternate on each connection: PUT a new visit, then POST its submit once the PUT's 201 has
-- come back. The submit is chosen from the responses, not from the order request() is called
-- in: wrk may call request() without sending what it returns, and a submit paired that way
-- was a 404 for a visit never created (the one failure these runs used to show).
local body = os.getenv("WRK_BODY")
local token = os.getenv("WRK_TOKEN")
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
local put = nil
local created = nil

local function uuid4()
  local template = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
  return (template:gsub("[xy]", function(c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end

request = function()
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
  if created ~= nil then
    local path = "/api/v1/visits/" .. created .. "/submit"
    created = nil
    put = nil
    return wrk.format("POST", path, headers, "")
  end
  put = uuid4()
  return wrk.format("PUT", "/api/v1/visits/" .. put, headers, body)
end

-- Each thread notes the statuses it did not expect (the first 20), for the summary.
local threads = {}
setup = function(thread) table.insert(threads, thread) end
unexpected = ""
local noted = 0
response = function(status, headers, response_body)
  if status == 201 and put ~= nil then
    created = put
  elseif status ~= 200 and noted < 20 then
    noted = noted + 1
    unexpected = unexpected .. status .. " "
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  local codes = ""
  for _, thread in ipairs(threads) do codes = codes .. (thread:get("unexpected") or "") end
  io.write(string.format("RESULT requests=%d non2xx=%d errors=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f" ..
    " connect=%d read=%d write=%d timeout=%d max_ms=%.2f\n",
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect, e.read, e.write, e.timeout, latency.max / 1000))
  if codes ~= "" then io.write("UNEXPECTED " .. codes .. "\n") end
end
