-- wrk script for benchmarks/api_latency.py: GET requests that rotate over a file of paths.
--
-- The file holds one request path per line, written by api_latency.py for each scenario and
-- server, e.g. (the four kinds it writes):
--
--   /v1/users/42/recommendations?n=20     user recommendations   (user_recs, user_recs_live)
--   /v1/items/50/similar?n=20             similar items          (similar)
--   /bare?user=42&n=20                    the bare app's twin of a user request
--   /bare/items/50/similar?n=20           the bare app's twin of a similar-items request
--
-- Ids are already URL-quoted. Each request takes the next path; after the last one it starts
-- over. With -t1 (as api_latency.py runs it) all connections share one rotation, in the order
-- the Python load generator uses.
--
-- Usage:
--   wrk -t1 -c16 -d20s --latency -s benchmarks/wrk/paths.lua http://127.0.0.1:PORT -- PATHS_FILE

local paths = {}
local count = 0
local next_index = 0

function init(args)
  local file = args[1]
  if file == nil then
    error("usage: wrk ... -s paths.lua URL -- PATHS_FILE")
  end
  for line in io.lines(file) do
    if line ~= "" then
      count = count + 1
      paths[count] = line
    end
  end
  if count == 0 then
    error("no paths in " .. file)
  end
end

function request()
  next_index = next_index % count + 1
  return wrk.format("GET", paths[next_index])
end
