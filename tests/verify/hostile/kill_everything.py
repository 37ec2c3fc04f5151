# hostile: kill(-1): every process this uid may signal (never run without isolation as a normal user)
# expect: killed
# modes: bwrap, rlimits-root
import os
import signal

os.kill(-1, signal.SIGKILL)
