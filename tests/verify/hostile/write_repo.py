# hostile: modify the project's source tree
# expect: ok
# modes: bwrap, rlimits-root
# stdout-has: CONTAINED
target = "{{REPO}}/backend/verify/planted_{{MARKER}}.py"
try:
    with open(target, "w") as fh:
        fh.write("import os")
    print("ESCAPED: wrote", target)
except OSError:
    print("CONTAINED")
