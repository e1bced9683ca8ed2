raise RuntimeError("broken at import")


def solve(x):
    return x
