# hostile: flood stderr instead of stdout
# expect: output_limit
import sys

while True:
    sys.stderr.write("e" * 4096)
