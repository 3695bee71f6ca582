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

response = function(status, headers, response_body)
  if status == 201 and put ~= nil then
    created = put
  end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d non2xx=%d errors=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
