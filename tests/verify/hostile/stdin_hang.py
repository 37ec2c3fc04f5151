# hostile: wait for input that never comes
# expect: ok
# stdout-has: CONTAINED
import sys

data = sys.stdin.read()
print("CONTAINED: stdin is at EOF", repr(data))
