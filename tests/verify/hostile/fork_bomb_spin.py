# hostile: fork bomb that ignores fork failures and keeps trying until killed
# expect: timeout
# timeout: 1
import contextlib
import os

while True:
    with contextlib.suppress(OSError):
        os.fork()
