# hostile: a plain infinite loop
# expect: timeout
# timeout: 0.5
while True:
    pass
