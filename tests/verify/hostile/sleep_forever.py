# hostile: wait forever without using CPU (only the wall clock can stop it)
# expect: timeout
# timeout: 0.5
import time

time.sleep(10_000)
