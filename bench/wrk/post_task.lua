-- POST a task (same body every time) to the URL given on the command line.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"Benchmark task","description":"Created by the load generator","priority":"high","labels":["bench","load"]}'
done = function(summary, latency, requests) report(summary, latency) end
