-- The mixed scenario (split vs all-in-one): reads and writes across modules,
-- chosen per request with fixed weights.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
local token = os.getenv("BENCH_TOKEN")
local project = os.getenv("BENCH_PROJECT")
local write_project = os.getenv("BENCH_WRITE_PROJECT")
local task = os.getenv("BENCH_TASK")
local auth = { ["Authorization"] = "Bearer " .. token }
local post = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
local body = '{"title":"Mixed task","priority":"low","labels":["mixed"]}'
local requests = {}
local function add(weight, method, path, headers, payload)
  for _ = 1, weight do
    table.insert(requests, wrk.format(method, path, headers, payload))
  end
end
-- Built in init: wrk.format needs the Host header wrk sets up after loading the script.
init = function(args)
add(50, "GET", "/api/v1/projects/" .. project .. "/tasks?limit=20", auth)
add(15, "GET", "/api/v1/tasks/" .. task, auth)
add(10, "POST", "/api/v1/projects/" .. write_project .. "/tasks", post, body)
add(10, "GET", "/api/v1/billing/subscription", auth)
add(10, "GET", "/api/v1/dashboard", auth)
add(5, "GET", "/api/v1/auth/me", auth)
end
local counter = 0
request = function()
  counter = counter + 1
  -- a fixed permutation stride so the mix is the same in every run
  return requests[((counter * 37) % #requests) + 1]
end
done = function(summary, latency, requests) report(summary, latency) end
