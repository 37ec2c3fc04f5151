# hostile: burn CPU on several threads at once
# expect: timeout
# timeout: 0.5
import threading


def spin():
    while True:
        pass


for _ in range(4):
    threading.Thread(target=spin).start()
spin()
