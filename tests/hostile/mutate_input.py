import numpy as np


def solve(x):
    x[0] = -1.0
    return np.argsort(x)
