-- The references of make bench-dict as a Lua table, for a driver to print
-- beside smo.dict's own figures (bench/dict_bench.lua):
--
--   local ref = require("dict_ref")        -- with bench/ on package.path
--   local r = assert(ref.run())            -- about 20 s here
--   r.nginx.get_num   --> ns per d:get of a number, ngx.shared.DICT in nginx
--   r.redis.get_num   --> ns per GET round trip, one Lua client (lua-socket)
--   for _, op in ipairs(ref.OPS) do print(op.name, op.label) end
--
-- Every figure is ns per operation (lpush_rpop: per pair), best of several
-- rounds; bench/dict_ref_nginx.lua's header gives the exact loops and the
-- state each runs on (smo.dict's loops should be the same), and
-- bench/dict_ref.sh how the servers are run (it starts and stops them).
-- r.nginx also has nginx, ngx_lua, luajit, ffi (whether get is
-- lua-resty-core's FFI one); r.redis has redis and client.  Runs under Lua
-- 5.2 to 5.4 and LuaJIT (load with an environment).
local M = {}

-- The operations, in the order of the table.
M.OPS = {
  { name = "get_num", label = "get number" },
  { name = "set_num", label = "set number" },
  { name = "set_str", label = "set 64-byte string" },
  { name = "get_str", label = "get 64-byte string" },
  { name = "incr", label = "incr" },
  { name = "lpush_rpop", label = "lpush+rpop" },
}

local HERE = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench"

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Measures the references.  opts (all optional): rounds (best of, 5),
-- round_ms (the shortest round, 100), only ("nginx" or "redis"), jitlog (a
-- file for nginx's jit.v log), redis_client ("lua", or "redis-benchmark" and
-- redis_n, its requests per round, 10000).
-- Returns the table, or nil and a message (the script's own messages went to
-- stderr).
function M.run(opts)
  opts = opts or {}
  local env = {}
  local function setenv(name, v, pattern)
    if v == nil then return true end
    v = tostring(v)
    if not v:match(pattern) then return false end
    env[#env + 1] = name .. "=" .. shell_quote(v)
    return true
  end
  for _, o in ipairs({ { "rounds", "SMO_DICT_ROUNDS" }, { "round_ms", "SMO_DICT_ROUND_MS" },
                       { "redis_n", "SMO_DICT_REDIS_N" } }) do
    if not setenv(o[2], opts[o[1]], "^[1-9]%d*$") then
      error("dict_ref.run: opts." .. o[1] .. " must be a positive integer", 2)
    end
  end
  if not setenv("SMO_DICT_REF", opts.only, "^%a+$") then error("dict_ref.run: opts.only: nginx or redis", 2) end
  if not setenv("SMO_DICT_REDIS_CLIENT", opts.redis_client, "^[%a-]+$") then
    error("dict_ref.run: opts.redis_client: lua or redis-benchmark", 2)
  end
  if not setenv("SMO_DICT_JITLOG", opts.jitlog, "^/") then error("dict_ref.run: opts.jitlog: an absolute path", 2) end

  local cmd = table.concat(env, " ") .. " bash " .. shell_quote(HERE .. "/dict_ref.sh")
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("*a")
  local ok, how, code = p:close()
  if ok ~= true and ok ~= 0 then
    return nil, "bench/dict_ref.sh failed (" .. tostring(how) .. " " .. tostring(code) .. ")"
  end
  local chunk, err = load(out, "=dict_ref.sh", "t", {})
  if not chunk then return nil, "bench/dict_ref.sh printed no Lua table: " .. err end
  local okr, r = pcall(chunk)
  if not okr or type(r) ~= "table" then return nil, "bench/dict_ref.sh printed no Lua table: " .. tostring(r) end
  return r
end

return M
