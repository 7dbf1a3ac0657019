-- Struct views, issue 11 points 3 (last bullet), 4 and 5: unknown fields
-- suggest the closest name or list the fields; strings into char[N] keep
-- their NUL unless set_bytes is asked; tables into arrays are whole unless
-- { partial = true }; copies can be 0-based; get and snapshot fill a table
-- the caller passes in, allocating nothing per reading.
local H = require("spec.helpers")
local smo = H.smo

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
  end)
end)
