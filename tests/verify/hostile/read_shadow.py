# hostile: read password hashes
# expect: ok
# stdout-has: CONTAINED
try:
    with open("/etc/shadow") as fh:
        print("ESCAPED: read /etc/shadow", len(fh.read()))
except OSError:
    print("CONTAINED")
