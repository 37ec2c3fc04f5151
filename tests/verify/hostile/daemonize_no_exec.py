# hostile: daemon that never execs (keeps the worker's command line), new session
# expect: ok
# stdout-has: CONTAINED
import os
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(10_000)
    os._exit(0)
print("CONTAINED (the daemon must be gone after the run)")
