# hostile: kill the supervising worker process
# expect: killed
import os
import signal
import time

os.kill(os.getppid(), signal.SIGKILL)
time.sleep(5)
print("ESCAPED: survived the supervisor")
