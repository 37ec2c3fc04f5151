# hostile: classic daemon: fork, setsid, fork again, exec a long sleep; parent exits at once
# expect: ok
# stdout-has: CONTAINED
import os

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.closerange(0, 3)
        os.execvp("sleep", ["sleep", "{{MARKER}}"])
    os._exit(0)
print("CONTAINED (the daemon must be gone after the run)")
