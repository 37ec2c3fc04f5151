# hostile: thousands of threads (threads count against RLIMIT_NPROC too)
# expect: ok
# stdout-has: CONTAINED
import threading
import time

started = 0
try:
    for _ in range(2000):
        threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()
        started += 1
except RuntimeError:
    pass
print("ESCAPED: started 2000 threads" if started >= 2000 else f"CONTAINED after {started}")
