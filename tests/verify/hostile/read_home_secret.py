# hostile: read a secret file in the real home directory, directly and via /proc/1/root
# expect: ok
# modes: bwrap, rlimits-root
# stdout-has: CONTAINED
import os

for path in ("{{HOME_FILE}}", "/proc/1/root{{HOME_FILE}}", os.path.expanduser("~/" + os.path.basename("{{HOME_FILE}}"))):
    try:
        if "{{SECRET_VALUE}}" in open(path).read():
            print("ESCAPED: read", path)
    except OSError:
        pass
print("CONTAINED")
