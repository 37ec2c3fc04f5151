# hostile: one huge allocation
# expect: memory
x = bytearray(64 * 1024**3)
print("ESCAPED: allocated 64 GiB")
