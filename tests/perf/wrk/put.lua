-- PUT a new visit (fresh random UUID each request) with the body and token from the environment.
local body = os.getenv("WRK_BODY")
local token = os.getenv("WRK_TOKEN")
local prefix = os.getenv("WRK_PREFIX")
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)

local function uuid4()
  local template = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
  return (template:gsub("[xy]", function(c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end

request = function()
  local headers = { ["Content-Type"] = "application/json" }
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("PUT", prefix .. uuid4(), headers, body)
end

local failures = 0
response = function(status, headers, body)
  if status ~= 201 then failures = failures + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d non2xx=%d errors=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
