# hostile: read or poke the supervising worker's memory via /proc
# expect: ok
# stdout-has: CONTAINED
import os

ppid = os.getppid()
for name in ("mem", "environ"):
    try:
        with open(f"/proc/{ppid}/{name}", "rb") as fh:
            fh.read(1)
        print("ESCAPED: opened supervisor", name)
    except OSError:
        pass
print("CONTAINED")
