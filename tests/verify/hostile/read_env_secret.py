# hostile: find a secret from the parent's environment (own env, /proc/*/environ, cmdlines)
# expect: ok
# modes: bwrap, rlimits-root
# stdout-has: CONTAINED
import os

if "{{SECRET_NAME}}" in os.environ or "{{SECRET_VALUE}}" in str(os.environ):
    print("ESCAPED: secret in os.environ")
for pid in filter(str.isdigit, os.listdir("/proc")):
    for name in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as fh:
                if b"{{SECRET_VALUE}}" in fh.read():
                    print("ESCAPED: secret in", pid, name)
        except OSError:
            pass
print("CONTAINED")
