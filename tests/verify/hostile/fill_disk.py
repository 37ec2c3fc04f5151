# hostile: fill the disk from the working directory
# expect: ok
# modes: bwrap
# stdout-has: CONTAINED
block = b"\0" * (16 * 1024 * 1024)
written = 0
try:
    for i in range(10_000):
        with open(f"fill{i}", "wb") as fh:
            fh.write(block)
        written += len(block)
except OSError:
    pass
print("ESCAPED: wrote", written) if written > 4 * 1024**3 else print("CONTAINED at", written >> 20, "MiB")
