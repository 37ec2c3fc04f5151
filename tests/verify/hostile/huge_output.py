# hostile: one enormous print
# expect: output_limit
print("x" * 50_000_000)
