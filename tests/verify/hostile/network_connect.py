# hostile: talk to a service on the host's loopback (the test listens on {{PORT}})
# expect: ok
# needs: netns
# stdout-has: CONTAINED
import socket

try:
    socket.create_connection(("127.0.0.1", int("{{PORT}}")), timeout=1).close()
    print("ESCAPED: connected to the host")
except OSError as exc:
    print("CONTAINED", type(exc).__name__)
try:
    socket.create_connection(("1.1.1.1", 53), timeout=1).close()
    print("ESCAPED: reached the internet")
except OSError:
    pass
