-- wrk script: send N requests per write (HTTP/1.1 pipelining), as TechEmpower's plaintext test does.
-- Usage: wrk -t1 -c64 -d5 -s benches/wrk/pipeline.lua http://127.0.0.1:3000/plaintext -- 16
init = function(args)
  local r = {}
  local depth = tonumber(args[1]) or 1
  for i=1,depth do r[i] = wrk.format() end
  req = table.concat(r)
end
request = function() return req end
