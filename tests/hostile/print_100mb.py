import sys

import numpy as np

_printed = []


def solve(x):
    if not _printed:  # 100 MB once per process
        sys.stdout.write("x" * (100 * 1024 * 1024))
        _printed.append(1)
    return np.argsort(x)
