# hostile: grow a list until memory runs out
# expect: memory
chunks = []
while True:
    chunks.append(bytearray(16 * 1024 * 1024))
