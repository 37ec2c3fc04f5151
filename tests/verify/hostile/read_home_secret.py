# hostile: read a secret file in the real home directory, directly and via /proc/1/root
# expect: ok
# modes: bwrap, rlimits-root
# stdout-has: CONTAINED
import os

home_copy = os.path.expanduser("~/" + os.path.basename("{{HOME_FILE}}"))
for path in ("{{HOME_FILE}}", "/proc/1/root{{HOME_FILE}}", home_copy):
    try:
        with open(path) as fh:
            if "{{SECRET_VALUE}}" in fh.read():
                print("ESCAPED: read", path)
    except OSError:
        pass
print("CONTAINED")
