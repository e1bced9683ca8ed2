def solve(x):
    x = [1]
    while True:
        x.append(x * 2)
