import numpy as np


def solve(x):
    n = x.shape[0]
    key = np.empty(n)
    for i in range(n):
        # EVOLVE-BLOCK-START
        key[i] = 0.1 * x[i] + 1.0 * (i / n)
        # EVOLVE-BLOCK-END
    return np.argsort(key)
