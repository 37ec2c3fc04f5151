# hostile: print forever
# expect: output_limit
while True:
    print("spam spam spam spam spam spam spam spam")
