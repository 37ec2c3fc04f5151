# hostile: start a long-running child process and leave it behind
# expect: ok
# stdout-has: CONTAINED
import subprocess

subprocess.Popen(["sleep", "{{MARKER}}"])
subprocess.Popen(["sh", "-c", "sleep {{MARKER}}; sleep {{MARKER}}"])
print("CONTAINED (children must be gone after the run)")
