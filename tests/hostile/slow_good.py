import numpy as np


def solve(x):
    # Honest but slow (pure Python work): still running while its siblings attack.
    acc = 0.0
    for i in range(300000):
        acc += (i % 7) * 1e-9
    return np.argsort(x + acc * 0.0)
