# hostile: read password hashes
# expect: ok
# stdout-has: CONTAINED
try:
    data = open("/etc/shadow").read()
    print("ESCAPED: read /etc/shadow", len(data))
except OSError:
    print("CONTAINED")
