# hostile: subprocess in a new session (escapes killpg of the original group)
# expect: ok
# stdout-has: CONTAINED
import subprocess

subprocess.Popen(["sleep", "{{MARKER}}"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("CONTAINED (the session leader must be gone after the run)")
