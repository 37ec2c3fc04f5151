# hostile: read the project's source tree
# expect: ok
# modes: bwrap
# stdout-has: CONTAINED
import os

try:
    print("ESCAPED: repo visible", os.listdir("{{REPO}}")[:5])
except OSError:
    print("CONTAINED")
