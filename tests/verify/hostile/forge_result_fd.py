# hostile: find and write to the worker's result channel
# expect: ok
# stdout-has: CONTAINED
import os

open_fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
for fd in open_fds:
    if fd > 2:
        try:
            os.fstat(fd)
        except OSError:
            continue  # the fd of the listdir() itself, already closed
        print("ESCAPED: extra descriptor", fd, os.readlink(f"/proc/self/fd/{fd}"))
print("CONTAINED")
