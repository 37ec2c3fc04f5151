# hostile: a plain infinite loop
# expect: timeout
# timeout: 1
while True:
    pass
