import os

from evolve import frames

# Attack: an error frame that claims the status "ok".
frames.write(3, {"type": "error", "kind": "ok", "message": "all fine"})
os._exit(0)


def solve(x):
    return x
