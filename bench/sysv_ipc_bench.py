"""The same operations through Python's sysv_ipc module (Debian python3-sysv-ipc).
Prints a Lua table literal of nanoseconds per operation."""
import sys
import time

import sysv_ipc

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
calls = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
cycles = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
key = int(sys.argv[4], 0) if len(sys.argv) > 4 else 0x5bec0002
block = 1 << 20

mem = sysv_ipc.SharedMemory(None, sysv_ipc.IPC_CREX, size=16 * block)
try:
    data = b"\x02" * block
    t0 = time.perf_counter_ns()
    for i in range(reps):
        mem.read(block, (i % 16) * block)
    rd = (time.perf_counter_ns() - t0) / reps
    t0 = time.perf_counter_ns()
    for i in range(reps):
        mem.write(data, (i % 16) * block)
    wr = (time.perf_counter_ns() - t0) / reps
    eight = b"\x00" * 8
    t0 = time.perf_counter_ns()
    for i in range(calls):
        mem.read(8, 0)
    rd8 = (time.perf_counter_ns() - t0) / calls
    t0 = time.perf_counter_ns()
    for i in range(calls):
        mem.write(eight, 8)
    wr8 = (time.perf_counter_ns() - t0) / calls
finally:
    mem.detach()
    mem.remove()

t0 = time.perf_counter_ns()
for i in range(cycles):
    m = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=4096)
    m.detach()
    m.remove()
cyc = (time.perf_counter_ns() - t0) / cycles
print("return { read = %.1f, write = %.1f, read8 = %.1f, write8 = %.1f, cycle = %.1f }" % (rd, wr, rd8, wr8, cyc))
