-- Struct views, issue 11 points 3 (last bullet), 4 and 5: unknown fields
-- suggest the closest name or list the fields; strings into char[N] keep
-- their NUL unless set_bytes is asked; tables into arrays are whole unless
-- { partial = true }; copies can be 0-based; get and snapshot fill a table
-- the caller passes in, allocating nothing per reading.
local H = require("spec.helpers")
local smo = H.smo
local E = smo.errno

local raised = H.raised

local T = smo.struct[[
  struct telemetry {
    uint32_t seq;
    char name[16];
    float samples[8];
    struct { double lat, lon; } gps;
    int16_t m[2][3];
    char tags[3][4];
    struct { uint8_t id; char label[8]; } sensors[2];
  }
]]

local function nul_at(bytes) return bytes:find("\0", 1, true) end

describe("view rules", function()
  local seg, v
  before_each(function()
    seg = assert(smo.open{ key = H.key(), size = 4096, create = true })
    v = seg:view(T)
  end)
  after_each(function()
    seg:close()
    H.cleanup()
  end)
  teardown(H.cleanup_all)

  describe("an unknown field", function()
    it("suggests the closest field name, on reads, writes and set", function()
      local msg = "unknown field 'nmae' in struct telemetry (did you mean 'name'?)"
      assert.are.equal(msg, raised(function() return v.nmae end))
      assert.are.equal(msg, raised(function() v.nmae = 1 end))
      assert.are.equal(msg, raised(function() v:set{ nmae = "x" } end))
      assert.are.equal("unknown field 'smaples' in struct telemetry (did you mean 'samples'?)",
        raised(function() v.smaples = {} end))
      assert.are.equal("unknown field 'Name' in struct telemetry (did you mean 'name'?)",
        raised(function() return v.Name end))
      assert.are.equal("unknown field 'lta' in anonymous struct (did you mean 'lat'?)",
        raised(function() v.gps.lta = 1 end))
      assert.are.equal("unknown field 'lable' in anonymous struct (did you mean 'label'?)",
        raised(function() v:set{ sensors = { { id = 1, lable = "x" }, {} } } end))
    end)

    it("lists the fields when none is close, truncated when there are many", function()
      assert.are.equal("unknown field 'zzz' in struct telemetry (fields: seq, name, samples, gps, m, tags, sensors)",
        raised(function() return v.zzz end))
      assert.are.equal("unknown field 'x' in anonymous struct (fields: lat, lon)",
        raised(function() v.gps.x = 1 end))
      local list = {}
      for i = 1, 30 do list[i] = { ("field%02d"):format(i), "int32_t" } end
      local Wide = smo.struct(list)
      local w = seg:view(Wide, 1024)
      assert.are.equal("unknown field 'other' in anonymous struct (fields: field01, field02, field03, field04, "
        .. "field05, field06, field07, field08, field09, field10 and 20 more)", raised(function() return w.other end))
      assert.are.equal("unknown field 'field1' in anonymous struct (did you mean 'field01'?)",
        raised(function() return w.field1 end))
    end)

    it("suggests in member paths too: offsetof, typeof and the view methods", function()
      assert.are.equal("offsetof: no member 'nmae' in struct telemetry (did you mean 'name'?)",
        raised(function() return (T:offsetof("nmae")) end))
      assert.are.equal("typeof: no member 'lon2' in anonymous struct (did you mean 'lon'?)",
        raised(function() return (T:typeof("gps.lon2")) end))
      assert.are.equal("snapshot: no member 'sqe' in struct telemetry (did you mean 'seq'?)",
        raised(function() return (v:snapshot("sqe")) end))
      assert.are.equal("atomic_add: no member 'qqq' in struct telemetry (fields: seq, name, samples, gps, m, tags, sensors)",
        raised(function() return (v:atomic_add("qqq", 1)) end))
      assert.are.equal("offsetof: no member 'idd' in anonymous struct (did you mean 'id'?)",
        raised(function() return (v:offsetof("sensors[1].idd")) end))
    end)

    it("keeps its old message for keys that are not strings", function()
      assert.are.equal("struct fields are named by strings, not by number", raised(function() return v[1] end))
      assert.are.equal("struct fields are named by strings, not by boolean", raised(function() v:set{ [true] = 1 } end))
    end)
  end)

  describe("a string into char[N]", function()
    local name_off = T:offsetof("name")

    it("shorter than N is NUL-padded to the field's size", function()
      seg:fill(name_off, 16, 0xFF)
      v.name = "rover"
      assert.are.equal("rover" .. ("\0"):rep(11), seg:read(name_off, 16))
      v.name = ""
      assert.are.equal(("\0"):rep(16), seg:read(name_off, 16))
      v.name = ("y"):rep(15)
      assert.are.equal(("y"):rep(15) .. "\0", seg:read(name_off, 16))
    end)

    it("of exactly N bytes raises naming the field, its size and the length, and writes nothing", function()
      v.name = "keep"
      assert.are.equal('field \'name\': string of 16 bytes leaves no room for the NUL of char[16] (15 bytes at most; '
        .. 'set_bytes("name", s) writes all 16 without one)', raised(function() v.name = ("x"):rep(16) end))
      assert.are.equal("keep", v.name)
      assert.are.equal('field \'name\': string of 16 bytes leaves no room for the NUL of char[16] (15 bytes at most; '
        .. 'set_bytes("name", s) writes all 16 without one)', raised(function() v:set{ seq = 9, name = ("x"):rep(16) } end))
      assert.are.equal(0, v.seq)
      assert.are.equal('field \'label\': string of 8 bytes leaves no room for the NUL of char[8] (7 bytes at most; '
        .. 'set_bytes("label", s) writes all 8 without one)', raised(function() v.sensors[0].label = "12345678" end))
      assert.are.equal('array element: string of 4 bytes leaves no room for the NUL of char[4] (3 bytes at most; '
        .. 'set_bytes(path, s) writes all 4 without one)', raised(function() v.tags[1] = "abcd" end))
    end)

    it("longer than N raises naming the field", function()
      assert.are.equal("field 'name': string of 17 bytes is too long for char[16] (15 bytes and the NUL at most)",
        raised(function() v.name = ("x"):rep(17) end))
      assert.are.equal("array element: string of 5 bytes is too long for char[4] (3 bytes and the NUL at most)",
        raised(function() v.tags = { "a", "b", "cdefg" } end))
    end)

    it("is written unterminated only by set_bytes, which pads shorter ones", function()
      v:set_bytes("name", ("x"):rep(16))
      assert.are.equal(("x"):rep(16), seg:read(name_off, 16))
      assert.are.equal(("x"):rep(16), v.name)         -- no NUL: all N bytes are read
      v:set_bytes("name", "ab")
      assert.are.equal("ab" .. ("\0"):rep(14), seg:read(name_off, 16))
      v:set_bytes("tags[2]", "wxyz")
      assert.are.equal("wxyz", v.tags[2])
      v.sensors[1]:set_bytes("label", "ABCDEFGH")
      assert.are.equal("ABCDEFGH", v:get().sensors[2].label)
      assert.are.equal("set_bytes: string of 17 bytes is too long for char[16] 'name'",
        raised(function() v:set_bytes("name", ("x"):rep(17)) end))
      assert.are.equal("set_bytes: field 'seq' (uint32_t) is not a char[N]", raised(function() v:set_bytes("seq", "a") end))
      assert.are.equal("set_bytes: field 'gps' (anonymous struct) is not a char[N]",
        raised(function() v:set_bytes("gps", "a") end))
      assert.are.equal("bad argument #2 to 'set_bytes' (string expected, got number)",
        raised(function() v:set_bytes("name", 5) end))
      assert.are.equal("set_bytes: no member 'nmae' in struct telemetry (did you mean 'name'?)",
        raised(function() v:set_bytes("nmae", "x") end))
      local ro = assert(smo.open{ key = seg:key(), readonly = true })
      assert.are.equal("attempt to write to a read-only smobject",
        raised(function() ro:view(T):set_bytes("name", "x") end))
      ro:close()
      assert.are.equal("ab" .. ("\0"):rep(14), seg:read(name_off, 16))
    end)

    it("with no NUL in memory reads as all N bytes", function()
      seg:write(name_off, ("q"):rep(16))
      assert.are.equal(("q"):rep(16), v.name)
      assert.are.equal(("q"):rep(16), v:get().name)
    end)

    it("always leaves a NUL inside the field unless set_bytes is used", function()
      for len = 0, 20 do
        seg:fill(name_off, 16, 0x41)
        pcall(function() v.name = ("z"):rep(len) end)
        local bytes = seg:read(name_off, 16)
        assert.is_truthy(nul_at(bytes) or bytes == ("A"):rep(16), "length " .. len)
        if len < 16 then assert.are.equal(len + 1, nul_at(bytes)) end
      end
    end)
  end)

  describe("a table into an array", function()
    local samples_off = T:offsetof("samples")

    it("shorter than the array raises naming the field, both lengths and the opt-in; nothing is written", function()
      v.samples = { 1, 2, 3, 4, 5, 6, 7, 8 }
      assert.are.equal("field 'samples': a table of 2 values for float[8] (8 elements, keys 1..8): give all 8, "
        .. "or pass { partial = true } to set", raised(function() v.samples = { 9, 9 } end))
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, v.samples:get())
      assert.are.equal("field 'samples': a table of 2 values for float[8] (8 elements, keys 1..8): give all 8, "
        .. "or pass { partial = true } to set", raised(function() v:set{ seq = 1, samples = { 9, 9 } } end))
      assert.are.equal(0, v.seq)
      assert.are.equal("set: a table of 0 values for float[8] (8 elements, keys 1..8): give all 8, "
        .. "or pass { partial = true } to set", raised(function() v.samples:set{} end))
      assert.are.equal("array element: a table of 2 values for int16_t[3] (3 elements, keys 1..3): give all 3, "
        .. "or pass { partial = true } to set", raised(function() v.m[0] = { 7, 8 } end))
      assert.are.equal(1, seg:get("float", samples_off))
    end)

    it("longer than the array raises too", function()
      assert.are.equal("field 'samples': a table of 9 values for float[8] (8 elements, keys 1..8): give all 8, "
        .. "or pass { partial = true } to set", raised(function() v.samples = { 1, 2, 3, 4, 5, 6, 7, 8, 9 } end))
      assert.are.equal("field 'samples': key 9 out of range for float[8] (a sequence, keys 1..8)",
        raised(function() v:set({ samples = { [9] = 1 } }, { partial = true }) end))
      assert.are.equal("field 'samples': arrays are set from sequences (keys 1..8)",
        raised(function() v:set({ samples = { x = 1 } }, { partial = true }) end))
    end)

    it("of the array's length writes every element", function()
      v.samples = { 1, 2, 3, 4, 5, 6, 7, 8 }
      v.m = { { 1, 2, 3 }, { 4, 5, 6 } }
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, v.samples:get())
      assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, v.m:get())
      v.sensors = { { id = 1 }, { id = 2 } }        -- structs inside stay partial by name
      assert.are.equal(2, v.sensors[1].id)
    end)

    it("writes only the keys given with { partial = true }, or element by element", function()
      v.samples = { 1, 2, 3, 4, 5, 6, 7, 8 }
      v.samples:set({ 9, 9 }, { partial = true })
      assert.are.same({ 9, 9, 3, 4, 5, 6, 7, 8 }, v.samples:get())
      v:set({ samples = { [8] = 0 }, m = { [2] = { [3] = 7 } } }, { partial = true })
      assert.are.same({ 9, 9, 3, 4, 5, 6, 7, 0 }, v.samples:get())
      assert.are.equal(7, v.m[1][2])
      v.samples[2] = 5
      assert.are.equal(5, v.samples[2])
    end)

    it("takes 0-based tables with { zero_based = true } and hints at it otherwise", function()
      local t = { [0] = 10, 11, 12, 13, 14, 15, 16, 17 }
      assert.are.equal("field 'samples': key 0 out of range for float[8] (a sequence, keys 1..8; a 0-based table "
        .. "needs { zero_based = true })", raised(function() v.samples = t end))
      v:set({ samples = t }, { zero_based = true })
      assert.are.equal(10, v.samples[0])
      assert.are.equal(17, v.samples[7])
      assert.are.equal("field 'samples': key 8 out of range for float[8] (a sequence, keys 0..7)",
        raised(function() v:set({ samples = { [8] = 1 } }, { zero_based = true, partial = true }) end))
      v.samples:set({ [0] = 1 }, { zero_based = true, partial = true })
      assert.are.equal(1, v.samples[0])
    end)

    it("refuses unknown options and options of the wrong type", function()
      assert.are.equal("bad argument #2 to 'set' (unknown option 'partail' (options: partial, zero_based))",
        raised(function() v:set({}, { partail = true }) end))
      assert.are.equal("bad argument #2 to 'set' (option 'partial' must be a boolean, got number)",
        raised(function() v:set({}, { partial = 1 }) end))
      assert.are.equal("bad argument #2 to 'set' (options table expected, got string)",
        raised(function() v:set({}, "partial") end))
    end)
  end)

  describe("copies", function()
    before_each(function()
      v:set{ seq = 2, name = "bot", samples = { 1, 2, 3, 4, 5, 6, 7, 8 }, gps = { lat = 1.5, lon = 2.5 },
             m = { { 1, 2, 3 }, { 4, 5, 6 } }, tags = { "a", "b", "c" },
             sensors = { { id = 1, label = "one" }, { id = 2, label = "two" } } }
    end)

    it("are 1-based by default and 0-based, like the view, with { zero_based = true }", function()
      local one = v:get()
      assert.are.equal(1, one.samples[1])
      assert.is_nil(one.samples[0])
      local zero = v:get(nil, { zero_based = true })
      for i = 0, 7 do assert.are.equal(v.samples[i], zero.samples[i]) end
      assert.is_nil(zero.samples[8])
      assert.are.equal(v.m[1][2], zero.m[1][2])
      assert.are.equal("c", zero.tags[2])
      assert.are.equal(v.sensors[1].label, zero.sensors[1].label)
      assert.are.equal("bot", zero.name)
      assert.are.same(zero, v:get({}, { zero_based = true }))
      local snap = assert(v:snapshot("seq", nil, nil, { zero_based = true }))
      assert.are.same(zero, snap)
      assert.are.same(zero.samples, v.samples:get(nil, { zero_based = true }))
      assert.are.equal(v:format(one), v:format(zero))             -- format takes either
      assert.are.equal("bad argument #2 to 'get' (unknown option 'zerobased' (options: zero_based))",
        raised(function() v:get(nil, { zerobased = true }) end))
      assert.are.equal("bad argument #4 to 'snapshot' (unknown option 'partial' (options: zero_based))",
        raised(function() v:snapshot("seq", nil, nil, { partial = true }) end))
    end)

    it("round-trip through set with the same option", function()
      local zero = v:get(nil, { zero_based = true })
      seg:fill(0, T.size, 0)
      v:set(zero, { zero_based = true })
      assert.are.same(zero, v:get(nil, { zero_based = true }))
      local one = v:get()
      seg:fill(0, T.size, 0)
      v:set(one)
      assert.are.same(one, v:get())
    end)

    it("fill a table passed in, reusing its nested tables and leaving its other keys", function()
      local into = { extra = "mine", gps = { note = 1 }, samples = false }
      local gps = into.gps
      assert.are.equal(into, v:get(into))
      assert.are.equal(gps, into.gps)
      assert.are.equal(1, into.gps.note)
      assert.are.equal("mine", into.extra)
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, into.samples)
      local rows, sensors = into.m[1], into.sensors[2]
      v.gps.lat, v.m[0][1], v.sensors[1].label, v.name = -1, 99, "deux", "car"
      v:get(into)
      assert.are.equal(-1, into.gps.lat)
      assert.are.equal(rows, into.m[1])
      assert.are.equal(99, into.m[1][2])
      assert.are.equal(sensors, into.sensors[2])
      assert.are.equal("deux", into.sensors[2].label)
      assert.are.equal("car", into.name)
      local fresh = v:get()
      fresh.extra, fresh.gps.note = "mine", 1
      assert.are.same(fresh, into)
    end)

    it("snapshot into a table: v:snapshot(seq, into) and v:snapshot(seq, timeout, into)", function()
      local into = {}
      v:publish("seq", function(p) p.gps.lat = 7 end)
      assert.are.equal(into, v:snapshot("seq", into))
      assert.are.equal(7, into.gps.lat)
      local gps = into.gps
      v:publish("seq", function(p) p.gps.lat = 8 end)
      assert.are.equal(into, v:snapshot("seq", 0.5, into))
      assert.are.equal(8, into.gps.lat)
      assert.are.equal(gps, into.gps)
      assert.are.same(v:get(), into)
      assert.are.equal(6, into.seq)
      -- a writer that died mid-write: nothing is written into the table
      seg:publish_begin(0)
      v.gps.lat = 9
      assert.are.same({ nil, "timeout", E.ETIMEDOUT }, { v:snapshot("seq", 0.05, into) })
      assert.are.equal(8, into.gps.lat)
    end)

    it("snapshot into one table is never torn while a writer publishes", function()
      local P = smo.struct("int64_t f[8]; uint32_t seq;")   -- as spec/children/sync_worker.lua publishes
      local pv = seg:view(P)
      seg:fill(0, 256, 0)                                    -- (not the telemetry written before)
      local pid = H.spawn("sync_worker.lua", "publish", seg:key())
      finally(function()
        seg:atomic_store("uint32_t", 128, 1)
        H.wait_exit(pid, 20)
      end)
      assert.is_truthy(H.wait_for(function() return seg:get("int64_t", 0) > 0 end, 20))
      local into, zinto, zopts, torn, seen, distinct, i = {}, {}, { zero_based = true }, 0, {}, 0, 0
      local t0 = H.now()
      while i < 20000 or (distinct < 100 and H.now() - t0 < 10) do   -- (a busy machine may starve the writer)
        i = i + 1
        local c = i % 2 == 0 and assert(pv:snapshot("seq", into)) or assert(pv:snapshot("seq", 5, zinto, zopts))
        local f, first = c.f, i % 2 == 0 and 1 or 0
        for j = first + 1, first + 7 do if f[j] ~= f[first] then torn = torn + 1 break end end
        if not seen[f[first]] then seen[f[first]], distinct = true, distinct + 1 end
      end
      assert.are.equal(0, torn)
      assert.is_true(distinct >= 100, "the writer published only " .. distinct .. " values during the reads")
    end)

    it("refuse a target that is not a plain table", function()
      assert.are.equal("bad argument #1 to 'get' (table to fill expected, got number)", raised(function() v:get(5) end))
      assert.are.equal("bad argument #3 to 'snapshot' (table to fill expected, got string)",
        raised(function() v:snapshot("seq", 0.5, "x") end))
      assert.are.equal("bad argument #1 to 'get' (table to fill expected, got smobject layout)",
        raised(function() v:get(T) end))
      assert.is_nil(rawget(T, "seq"))
      local into = { gps = T }                       -- a sealed object inside is replaced, never written
      v:get(into)
      assert.are.equal(1.5, into.gps.lat)
      assert.is_nil(rawget(T, "lat"))
    end)

    it("raise, never crash, when a finalizer run by their allocations closes the segment (was: SIGSEGV)", function()
      for _, call in ipairs{ "v:get()", "v:get({})", "v:snapshot('seq')", "v:snapshot('seq', {})",
                             "seg:snapshot(0, 0, 524288)" } do
        local out, ok = H.run(([[
          local smo = require("smobject")
          local seg = assert(smo.open{ key = %d, size = 1048576, create = true })
          local v = seg:view(smo.struct("uint32_t seq; struct { double a[4]; char s[8]; } rows[4000];"))
          -- a cycle at once, in big steps (5.4: collectgarbage("incremental", 1, 1000))
          if _VERSION == "Lua 5.4" then
            collectgarbage("incremental", 1, 1000)
          else
            collectgarbage("setpause", 1)
            collectgarbage("setstepmul", 1000)
          end
          -- a finalizer: on a table from 5.2 on, on a proxy userdata on 5.1 and LuaJIT
          local function finalizer(f)
            if newproxy then
              local p = newproxy(true)
              getmetatable(p).__gc = f
              return p
            end
            return setmetatable({}, { __gc = f })
          end
          for _ = 1, 50 do
            finalizer(function() seg:close() end)
            local ok, err = pcall(function() return %s end)
            if not ok then print(err) break end
          end
          print("survived")]]):format(H.key(), call))
        assert.is_true(ok, call .. ": " .. out)
        assert.matches("attempt to use a closed smobject\nsurvived\n$", out)
      end
    end)

    it("internal entry points check their arguments", function()
      local core = require("smobject.core")
      local cases = {
        { core.view_snapshot, io.stdout, 0 }, { core.view_snapshot, v, -4 }, { core.view_snapshot, v, 4094 },
        { core.view_snapshot, v, 2 }, { core.view_snapshot, v, 1.5 }, { core.view_snapshot, v, "0" },
        { core.view_snapshot, v, 0, -1 }, { core.view_snapshot, v, 0, 0 / 0 }, { core.view_snapshot, v, 0, "1" },
        { core.view_snapshot, v, 0, nil, 5 }, { core.view_snapshot, v, 0, nil, T },
        { core.view_hint, 5 },
      }
      for i, c in ipairs(cases) do
        local ok, err = pcall(H.unpack(c, 1, 5))
        assert.is_false(ok, "case " .. i)
        assert.matches("bad argument", err, 1, true)
      end
      assert.is_false(core.view_hint(function() return "" end))   -- the first one stays
      assert.matches("did you mean 'name'", raised(function() return v.nmae end), 1, true)
      assert.are.same(v:get(), core.view_snapshot(v, 0, nil, nil, false))
    end)

    it("into a table allocate nothing per reading", function()
      local Long = smo.struct[[
        struct long_names {
          uint32_t seq;
          double a_field_name_longer_than_forty_characters_x;
          char a_string_longer_than_forty_characters[64];
          struct { float v[4]; char tag[8]; } parts[3];
        }
      ]]
      local lv = seg:view(Long, 1024)
      lv:set{ a_field_name_longer_than_forty_characters_x = 1.5,
              a_string_longer_than_forty_characters = ("s"):rep(50),
              parts = { { tag = "p1" }, { tag = "p2" }, { tag = "p3" } } }
      lv:publish("seq", function() end)
      local into, zinto, zinto2, zopts = {}, {}, {}, { zero_based = true }
      local N = 10000
      local function cost(fn)
        local function calls(n) for _ = 1, n do fn() end end
        fn()                                          -- the first call makes the nested tables
        -- (LuaJIT compiles the loop's traces the first time, and its
        -- collector counts them: once, not per reading; the same loop runs
        -- again below, on the traces made now)
        calls(N)
        collectgarbage("collect")
        -- (a full collection frees the interpreter's string buffer, 5.2's
        -- lgc.c checkSizes, and shrinks the stack, 5.3's: the next call, as
        -- deep as the measured ones, allocates them once, not measured either)
        calls(1)
        collectgarbage("stop")
        local before = collectgarbage("count")
        calls(N)
        local kib = collectgarbage("count") - before
        collectgarbage("restart")
        return kib
      end
      finally(function() collectgarbage("restart") end)
      for what, fn in pairs{
        ["v:get(into)"] = function() lv:get(into) end,
        ["v:snapshot(seq, into)"] = function() lv:snapshot("seq", into) end,
        ["v:snapshot(seq, timeout, into, zero_based)"] = function() lv:snapshot("seq", 1, zinto, zopts) end,
        ["v:get(into, zero_based)"] = function() v:get(zinto2, zopts) end,
      } do
        local kib = cost(fn)
        assert.is_true(kib < 2, ("%s allocated %.1f KiB in %d calls"):format(what, kib, N))
      end
      -- the measure sees allocations: a fresh copy per call is far above it
      local fresh = cost(function() lv:snapshot("seq") end)
      assert.is_true(fresh > N * 0.1, ("a fresh snapshot allocated only %.1f KiB in %d calls"):format(fresh, N))
      assert.are.same(lv:get(), into)
    end)
  end)
end)
