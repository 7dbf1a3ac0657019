/***
@module smobject
*/

/*
 * The little of a process module that programs sharing memory need beside
 * it: sleeping, a monotonic clock, process and user ids.  With these the
 * examples and the CLI run with only this rock and lua5.4 (no lua-system,
 * no procfs).  Module functions only; nothing here touches a segment.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "areas.h"
#include "handle.h"

/***
The process: sleeping, the clock, process and user ids.
@section process
*/

/* A sleep goes in steps of at most half a second, each to an absolute
 * deadline (so that the steps add up to the time asked, signals or not), and
 * looks for an interruption after each: a SIGINT that lands just before a
 * step begins, and so interrupts no system call, still ends the sleep within
 * half a second.  Any duration fits (math.huge included). */
#define STEP_SECONDS 0.5

/* The seconds argument of smo.sleep: a number >= 0 (math.huge allowed). */
static double check_seconds(lua_State *L, int idx) {
  double s;
  if (lua_type(L, idx) != LUA_TNUMBER) smo_typeerror(L, idx, "number");
  s = (double)lua_tonumber(L, idx);
  if (isnan(s)) luaL_argerror(L, idx, "seconds is NaN");
  luaL_argcheck(L, s >= 0, idx, "seconds must not be negative");
  return s;
}

/* at + seconds (0 <= seconds <= STEP_SECONDS), rounded up to the next
 * nanosecond: a sleep is never shorter than asked. */
static void add_seconds(struct timespec *at, double seconds) {
  time_t whole = (time_t)seconds;
  long ns = (long)ceil((seconds - (double)whole) * 1e9);
  at->tv_sec += whole;
  at->tv_nsec += ns;
  if (at->tv_nsec >= 1000000000L) {
    at->tv_nsec -= 1000000000L;
    at->tv_sec += 1;
  }
}

/***
Sleeps for a number of seconds without using the CPU, against the monotonic
clock (`smo.clock`): a change of the wall clock does not shorten or lengthen
it. A signal caught by a handler does not end it (it goes on to the time
asked), but Ctrl-C does, as it ends Lua code: when lua5.4's `SIGINT` handler
has set its hook (on this thread or the main one), the sleep raises
`"interrupted!"` (it looks after each signal, and at least every half
second).
@function smo.sleep
@tparam number seconds fractions allowed; `0` returns at once, `math.huge` sleeps until interrupted
@return nothing
@return[2] nil, message, errno when `clock_nanosleep` fails (not seen on Linux)
@raise `"interrupted!"` on Ctrl-C; on a negative or NaN duration or one that is not a number
(`"bad argument #1 to 'sleep' (seconds must not be negative)"`)
@usage smo.sleep(0.05)
*/
static int smo_sleep(lua_State *L) {
  smo_intr w;
  double left;
  intr_begin(L, &w);   /* first: the hooks as they were when called */
  left = check_seconds(L, 1);
  struct timespec at;
  if (left == 0) return 0;
  clock_gettime(CLOCK_MONOTONIC, &at);
  for (;;) {
    double step = left < STEP_SECONDS ? left : STEP_SECONDS;
    int rc;
    add_seconds(&at, step);
    while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL)) == EINTR) {
      if (intr_seen(&w)) intr_raise(L, &w);
    }
    if (rc != 0) return push_oserror(L, "clock_nanosleep", rc);
    if (!isinf(left)) {
      left -= step;
      if (left <= 0) return 0;
    }
    if (intr_seen(&w)) intr_raise(L, &w);
  }
}

/***
Seconds on the monotonic clock (`CLOCK_MONOTONIC`): it never goes back and
does not follow changes of the wall clock; its origin is arbitrary (the
boot, on Linux) but the same in every process of the machine, so readings
taken by different processes compare.
@function smo.clock
@treturn number seconds, a float with nanosecond resolution
@usage local t0 = smo.clock(); work(); print(("%.3f s"):format(smo.clock() - t0))
*/
static int smo_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/***
This process's id (`getpid`).
@function smo.getpid
@treturn integer
@usage print(("pid %d"):format(smo.getpid()))
*/
static int smo_getpid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/***
This process's real user id (`getuid`).
@function smo.getuid
@treturn integer
@usage if smo.getuid() == 0 then print("running as root") end
*/
static int smo_getuid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getuid());
  return 1;
}

/***
This process's effective user id (`geteuid`): the one the kernel checks
against a segment's owner and mode, as `stat().uid` and `any_owner` mean it.
@function smo.geteuid
@treturn integer
@usage local mine = seg:stat().uid == smo.geteuid()
*/
static int smo_geteuid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)geteuid());
  return 1;
}

static const luaL_Reg process_functions[] = {
  { "sleep", smo_sleep },
  { "clock", smo_clock },
  { "getpid", smo_getpid },
  { "getuid", smo_getuid },
  { "geteuid", smo_geteuid },
  { NULL, NULL }
};

void process_open(lua_State *L) {
  register_funcs(L, SMO_MODULE, process_functions);
}
