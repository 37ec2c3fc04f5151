# hostile: plant files in the real home directory
# expect: ok
# modes: bwrap, rlimits-root
# stdout-has: CONTAINED
import os

target = os.path.join(os.path.dirname("{{HOME_FILE}}"), ".canopy-sandbox-planted-{{MARKER}}")
try:
    with open(target, "w") as fh:
        fh.write("planted")
    print("ESCAPED: wrote", target)
except OSError:
    print("CONTAINED")
