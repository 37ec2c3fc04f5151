# hostile: lift its own limits or become root
# expect: ok
# stdout-has: CONTAINED
import os
import resource

for limit in (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_NPROC):
    try:
        resource.setrlimit(limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        print("ESCAPED: raised limit", limit)
    except (ValueError, OSError):
        pass
try:
    os.setuid(0)
    print("ESCAPED: setuid(0)")
except OSError:
    pass
print("CONTAINED")
