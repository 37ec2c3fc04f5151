# hostile: signal pid 1
# expect: ok
# stdout-has: CONTAINED
import os
import signal

try:
    os.kill(1, signal.SIGKILL)
except OSError as exc:
    print("CONTAINED", exc)
else:
    print("CONTAINED (signal to namespace init is ignored)")
