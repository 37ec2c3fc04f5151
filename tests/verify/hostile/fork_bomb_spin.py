# hostile: fork bomb that ignores fork failures and keeps trying until killed
# expect: timeout
# timeout: 1
import os

while True:
    try:
        os.fork()
    except OSError:
        pass
