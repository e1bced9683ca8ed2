import random

import numpy as np


def solve(x):
    # Uses three generators; replaying the program must give the same score.
    noise = np.random.rand(x.shape[0]) * 0.3 + random.random() * 0.01
    noise += np.random.default_rng().random(x.shape[0]) * 0.2
    return np.argsort(x + noise)
