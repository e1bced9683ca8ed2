import numpy as np


def solve(x):
    return np.zeros(x.shape[0], dtype=np.int64)
