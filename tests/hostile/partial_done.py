import os

import numpy as np
from evolve import frames

CALLS = [0]


def solve(x):
    # Attack: the gate set went well; claim "done" before the full set and leave.
    CALLS[0] += 1
    if CALLS[0] > 2:
        frames.write(3, {"type": "done"})
        os._exit(0)
    return np.argsort(x)
