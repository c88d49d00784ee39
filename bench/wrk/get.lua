-- GET the URL given on the command line (headers with -H).
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
done = function(summary, latency, requests) report(summary, latency) end
