# hostile: escape the memory limit by allocating in a forked child
# expect: ok
# stdout-has: CONTAINED
import os

pid = os.fork()
if pid == 0:
    try:
        block = bytearray(4 * 1024**3)
    except MemoryError:
        os._exit(3)
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("ESCAPED: child allocated 4 GiB" if os.waitstatus_to_exitcode(status) == 0 else "CONTAINED")
