import os
import struct

import numpy as np

# Attack: announce a terabyte-sized result and hope the worker buffers it.
os.write(3, struct.pack("<4sIQ", b"EVF1", 10, 1 << 40) + b'{"type":1}')


def solve(x):
    return np.argsort(x)
