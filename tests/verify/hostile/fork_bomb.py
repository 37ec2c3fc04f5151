# hostile: classic fork bomb; dies on RLIMIT_NPROC (and floods tracebacks)
# expect: error, output_limit, timeout
# timeout: 2
import os

while True:
    os.fork()
