# hostile: open system files for writing (append mode, writes nothing)
# expect: ok
# stdout-has: CONTAINED
for path in ("/etc/passwd", "/etc/hosts", "/usr/bin/python3"):
    try:
        with open(path, "a"):
            print("ESCAPED: writable", path)
    except OSError:
        pass
print("CONTAINED")
