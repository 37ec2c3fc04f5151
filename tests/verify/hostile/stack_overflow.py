# hostile: blow the C stack (hashing deeply nested tuples recurses in C, unchecked)
# expect: killed, error, memory
import sys

sys.setrecursionlimit(10**8)
nested = ()
for _ in range(1_000_000):
    nested = (nested,)
print(hash(nested))
