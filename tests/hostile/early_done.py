import numpy as np
from evolve import frames

# Attack: report "done" before any set ran, hoping to be scored on nothing (or on a subset).
frames.write(3, {"type": "done"})


def solve(x):
    return np.argsort(x)
