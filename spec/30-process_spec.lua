-- smo.sleep, smo.clock, smo.getpid, smo.getuid, smo.geteuid: the little of a
-- process module the examples and the CLI need, so that they run with only
-- the rock and the interpreter.
local H = require("spec.helpers")
local smo = H.smo

-- A chunk run by a child interpreter (from a file: no shell quoting of the code).
local function script(name, code)
  local path = H.tmpdir() .. "/" .. name .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  return path
end

-- A C host of its own for the smobject core: a SIGALRM every 20 ms with a
-- handler, which in mode "hook" sets an interrupting hook on the main thread
-- at the third signal, as lua.c's SIGINT handler does; in mode "plain" it
-- only counts (an unrelated signal: a sleep must resume after it).  In mode
-- "thread" no signal comes: another thread sets the hook after 0.1 s (as a
-- SIGINT landing just before a sleep's system call would: nothing is
-- interrupted, the sleep has to look).
local HOST = [[
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"
#ifndef LUA_OK
#define LUA_OK 0   /* (5.1's headers have no name for it) */
#endif

static lua_State *G;
static volatile sig_atomic_t signals, hook_mode;

static void stop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void on_alarm(int sig) {
  (void)sig;
  signals++;
  if (hook_mode && signals == 3) lua_sethook(G, stop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void *later(void *arg) {
  struct timespec ts = { 0, 100000000L };
  (void)arg;
  nanosleep(&ts, NULL);
  lua_sethook(G, stop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  return NULL;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  struct sigaction sa;
  struct itimerval it;
  double t0;
  int rc;
  if (argc != 3) return 2;
  hook_mode = strcmp(argv[1], "hook") == 0;
  G = luaL_newstate();
  luaL_openlibs(G);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  memset(&it, 0, sizeof it);
  it.it_interval.tv_usec = it.it_value.tv_usec = 20000;
  t0 = now();
  if (strcmp(argv[1], "thread") == 0) {
    pthread_t t;
    pthread_create(&t, NULL, later, NULL);
    pthread_detach(t);
  } else {
    setitimer(ITIMER_REAL, &it, NULL);
  }
  rc = luaL_dostring(G, argv[2]);
  printf("%s after %.3f s, %d signals: %s\n", rc == LUA_OK ? "returned" : "raised", now() - t0, (int)signals,
         rc == LUA_OK ? "" : lua_tostring(G, -1));
  lua_close(G);
  return 0;
}
]]

describe("smo.clock", function()
  teardown(H.cleanup_all)

  it("is a float of seconds that never goes back", function()
    local a = smo.clock()
    local b = smo.clock()
    assert.are.equal(H.INTEGERS and "float" or "number", H.INTEGERS and math.type(a) or type(a))
    assert.is_true(b >= a)
    assert.is_true(a > 0)
  end)

  it("runs at the pace of the wall clock (over a shell's sleep 0.3)", function()
    local c0, w0 = smo.clock(), H.now()
    os.execute("sleep 0.3")
    local dc, dw = smo.clock() - c0, H.now() - w0
    assert.is_true(dc >= 0.3, "smo.clock advanced " .. dc .. " s over a 0.3 s sleep")
    assert.is_true(math.abs(dc - dw) < 0.05, ("smo.clock %.3f s, wall clock %.3f s"):format(dc, dw))
  end)

  it("is the same clock in every process (CLOCK_MONOTONIC, system-wide)", function()
    local t0 = smo.clock()
    local out, ok = H.run('io.write(string.format("%.6f", require("smobject").clock()))')
    local t1 = smo.clock()
    assert.is_true(ok, out)
    local child = assert(tonumber(out), out)
    assert.is_true(child >= t0 and child <= t1, ("child %.6f outside [%.6f, %.6f]"):format(child, t0, t1))
  end)
end)

describe("smo.sleep", function()
  teardown(H.cleanup_all)

  for _, s in ipairs{ 0.05, 0.3, 1 } do
    it("sleeps at least the time asked, and not much more, without CPU (" .. s .. " s)", function()
      local t0, c0 = smo.clock(), os.clock()
      local n = select("#", smo.sleep(s))
      local dt, cpu = smo.clock() - t0, os.clock() - c0
      assert.are.equal(0, n)
      assert.is_true(dt >= s, ("slept %.4f s for %g"):format(dt, s))
      assert.is_true(dt < s + 1, ("slept %.4f s for %g"):format(dt, s))
      assert.is_true(cpu < 0.05, "sleeping burnt " .. cpu .. " s of CPU")
    end)
  end

  it("takes 0, integers and floats with an integer value", function()
    local t0 = smo.clock()
    smo.sleep(0)
    smo.sleep(0.0)
    smo.sleep(1e-9)
    assert.is_true(smo.clock() - t0 < 0.5)
  end)

  it("refuses what is not a duration, naming the argument", function()
    assert.are.equal("bad argument #1 to 'sleep' (number expected, got no value)", H.raised(function() smo.sleep() end))
    assert.are.equal("bad argument #1 to 'sleep' (number expected, got string)", H.raised(function() smo.sleep("1") end))
    assert.are.equal("bad argument #1 to 'sleep' (number expected, got nil)", H.raised(function() smo.sleep(nil) end))
    assert.are.equal("bad argument #1 to 'sleep' (number expected, got table)", H.raised(function() smo.sleep({}) end))
    assert.are.equal("bad argument #1 to 'sleep' (seconds must not be negative)",
      H.raised(function() smo.sleep(-0.5) end))
    assert.are.equal("bad argument #1 to 'sleep' (seconds must not be negative)",
      H.raised(function() smo.sleep(-math.huge) end))
    assert.are.equal("bad argument #1 to 'sleep' (seconds is NaN)", H.raised(function() smo.sleep(0 / 0) end))
    assert.are.equal("bad argument #1 to 'sleep' (seconds must not be negative)",
      H.raised(function() smo.sleep(H.MININT) end))
  end)

  it("resumes after a signal that a handler caught, for the whole time asked", function()
    local why = H.missing("cc") if why then pending(why) return end
    local flags, nolib = H.embed_flags()
    if not flags then pending(nolib) return end
    local exe = H.compile("sleep_host", HOST, flags .. " -pthread")
    local out, ok = H.sh(H.child_env() .. exe .. " plain "
      .. H.shell_quote('local smo = require("smobject"); smo.sleep(0.4)'))
    assert.is_true(ok, out)
    local how, dt, n = out:match("^(%a+) after ([%d.]+) s, (%d+) signals")
    assert.are.equal("returned", how, out)
    assert.is_true(tonumber(dt) >= 0.4, out)
    assert.is_true(tonumber(dt) < 1.4, out)
    assert.is_true(tonumber(n) >= 5, "too few signals came to test anything: " .. out)
  end)

  for _, how in ipairs{ "in the main thread", "in a coroutine" } do
    it("ends with 'interrupted!' when the host's signal handler sets its interrupting hook, " .. how, function()
      local why = H.missing("cc") if why then pending(why) return end
      local flags, nolib = H.embed_flags()
      if not flags then pending(nolib) return end
      local exe = H.compile("sleep_host", HOST, flags .. " -pthread")
      local code = 'local smo = require("smobject"); smo.sleep(math.huge)'
      if how == "in a coroutine" then
        code = 'local smo = require("smobject"); coroutine.wrap(function() smo.sleep(30) end)()'
      end
      local t0 = smo.clock()
      local out, ok = H.sh(H.child_env() .. "timeout 20 " .. exe .. " hook " .. H.shell_quote(code))
      assert.is_true(ok, out)
      assert.is_true(smo.clock() - t0 < 10, out)
      local res, dt, msg = out:match("^(%a+) after ([%d.]+) s, %d+ signals: ([^\n]*)")
      assert.are.equal("raised", res, out)
      assert.is_true(tonumber(dt) < 5, out)
      assert.matches("interrupted!$", msg)
    end)
  end

  it("ends with 'interrupted!' when the hook is set while no system call is interrupted", function()
    local why = H.missing("cc") if why then pending(why) return end
    local flags, nolib = H.embed_flags()
    if not flags then pending(nolib) return end
    local exe = H.compile("sleep_host", HOST, flags .. " -pthread")
    local out, ok = H.sh(H.child_env() .. "timeout 20 " .. exe .. " thread "
      .. H.shell_quote('local smo = require("smobject"); smo.sleep(30)'))
    assert.is_true(ok, out)
    local res, dt, n, msg = out:match("^(%a+) after ([%d.]+) s, (%d+) signals: ([^\n]*)")
    assert.are.equal("raised", res, out)
    assert.are.equal("0", n)
    assert.is_true(tonumber(dt) >= 0.1 and tonumber(dt) < 2, out)
    assert.matches("interrupted!$", msg)
  end)

  for _, how in ipairs{ "smo.sleep(30)", "coroutine.wrap(function() smo.sleep(math.huge) end)()" } do
    it("is ended by Ctrl-C (SIGINT) in " .. H.LUA .. ", as Lua code is: " .. how, function()
      -- (under valgrind a SIGINT can come before the child has its handler)
      if H.LUA:find("valgrind", 1, true) then pending("signal timing under valgrind") return end
      local child = script("sleep_int", 'local smo = require("smobject")\nprint("sleeping")\nio.stdout:flush()\n'
        .. how .. '\nprint("slept to the end")\n')
      -- SIGINT once it sleeps: its exit code and how long it took to end
      local res, dt, text = H.interrupt(child, "sleeping")
      assert.are.equal("rc=1\n", res, text)
      assert.is_true(dt < 15, ("took %.1f s"):format(dt))
      assert.matches("^sleeping\n[^\n]*interrupted!\n", text)
      assert.is_nil(text:find("slept to the end", 1, true))
    end)
  end
end)

describe("smo.getpid, smo.getuid, smo.geteuid", function()
  teardown(H.cleanup_all)

  it("getpid is this process's id: the parent a shell sees, and what procfs says", function()
    local p = io.popen("echo $PPID")
    local ppid = tonumber(p:read("*l"))
    p:close()
    assert.is_true(H.is_integer(smo.getpid()))
    assert.are.equal(ppid, smo.getpid())
    assert.are.equal(H.pid(), smo.getpid())
  end)

  it("getpid in a child is the pid its shell started ($!)", function()
    local child = script("getpid", 'io.write("child ", require("smobject").getpid(), "\\n")\n')
    local out, ok = H.sh("sh -c " .. H.shell_quote(H.child_env() .. H.LUA .. " " .. child
      .. " >" .. H.tmpdir() .. "/getpid.out & echo \"bg $!\"; wait; cat " .. H.tmpdir() .. "/getpid.out"))
    assert.is_true(ok, out)
    local bg, pid = out:match("bg (%d+)"), out:match("child (%d+)")
    assert.is_truthy(bg, out)
    assert.are.equal(bg, pid, out)
  end)

  it("getuid and geteuid are the real and effective uids (id -ru, id -u)", function()
    local function id(opt)
      local p = io.popen("id " .. opt)
      local v = tonumber(p:read("*l"))
      p:close()
      return v
    end
    assert.are.equal(id("-ru"), smo.getuid())
    assert.are.equal(id("-u"), smo.geteuid())
    assert.is_true(H.is_integer(smo.getuid()))
  end)

  it("getuid and geteuid differ when only the effective uid changes (setpriv)", function()
    local why = H.missing("root", "setpriv") if why then pending(why) return end
    -- (an exec with the effective uid apart from the real one is secure: the
    -- loader drops LD_PRELOAD, which make test-asan needs)
    if (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true) then pending("euid apart under LD_PRELOAD") return end
    -- (and valgrind runs its program with the effective uid set back to the real one)
    if H.LUA:find("valgrind", 1, true) then pending("euid apart under valgrind") return end
    -- (the code on the command line: the scratch directory is root's only)
    local child = "-e " .. H.shell_quote('local smo = require("smobject"); io.write(smo.getuid(), " ", smo.geteuid())')
    local out, ok = H.sh(H.child_env() .. "setpriv --euid=65534 --egid=65534 --clear-groups " .. H.LUA .. " " .. child)
    assert.is_true(ok, out)
    assert.are.equal("0 65534", out)
    out, ok = H.sh(H.child_env() .. "setpriv --reuid=65533 --regid=65533 --clear-groups " .. H.LUA .. " " .. child)
    assert.is_true(ok, out)
    assert.are.equal("65533 65533", out)
  end)
end)
