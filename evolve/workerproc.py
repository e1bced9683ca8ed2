"""A worker process: `python -m evolve.workerproc FD`, driven by its controller over two pipes.

The controller starts it with an allowlisted environment (secrets.py), sends length-prefixed JSON
messages on stdin and reads replies from descriptor FD. Nothing is pickled either way. The worker
dies with its controller: it asks the kernel for a death signal, and stdin at end-of-file (also
watched while a candidate runs) means the controller is gone.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import traceback
from typing import Any

_LEN = struct.Struct("<I")
MAX_MESSAGE = 256 << 20


def send_msg(fd: int, obj: Any) -> None:
    """One message: u32 length + JSON."""
    data = json.dumps(obj, default=float).encode()
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def recv_msg(fd: int) -> Any:
    """The next message, or None at end-of-file."""
    from evolve.frames import read_exactly  # here: this module starts without numpy

    head = read_exactly(fd, _LEN.size)
    if head is None:
        return None
    (n,) = _LEN.unpack(head)
    if n > MAX_MESSAGE:
        raise ValueError(f"message of {n} bytes")
    body = read_exactly(fd, n)
    return None if body is None else json.loads(body)


def _reply(fn, args: dict) -> dict:
    from evolve.problem import ProblemError
    from evolve.program import CandidateError

    try:
        return {"ok": True, "value": fn(**args)}
    except ProblemError as e:
        return {"ok": False, "kind": "problem", "error": str(e)}
    except CandidateError as e:
        return {"ok": False, "kind": "candidate", "failure": e.kind, "error": e.message}
    except Exception:  # noqa: BLE001 - reported to the controller as the engine's fault
        return {"ok": False, "kind": "engine", "error": traceback.format_exc()[-4000:]}


def main() -> None:
    out = int(sys.argv[1])
    parent = int(os.environ.get("EVOLVE_PARENT_PID", "0"))
    from evolve import isolation, sandbox

    isolation.set_death_signal()
    if parent and os.getppid() != parent:
        os._exit(1)  # the controller died before we could watch it
    os.dup2(2, 1)  # stray prints of problem code must not reach a protocol pipe
    sandbox.PARENT_FD = 0
    from evolve import worker
    from evolve.evalmarks import flush_marks, mark

    worker.preload(())  # what no problem decides, while the init message may still be coming
    init = recv_msg(0)
    if init is None:
        return

    worker.NOTE = lambda obj: send_msg(out, {"note": obj})  # progress before a task's reply
    limits = sandbox.Limits(**{**init["limits"], "hide": tuple(init["limits"].get("hide", ()))})
    args = {"problem_cfg": init["problem_cfg"], "limits": limits}
    send_msg(out, _reply(worker.init_worker, args))
    worker.refill()
    while (msg := recv_msg(0)) is not None:
        mark("worker: message read")
        reply = _reply(worker.TASKS[msg["op"]], msg["args"])
        mark("worker: task done")
        send_msg(out, reply)
        mark("worker: reply sent")
        worker.refill()  # the next child forks while the controller records this result
        mark("worker: next standby forked")
        flush_marks(worker._STATE.get("child_profile"))
    worker.shut_down()
    # no interpreter teardown (numba, LLVM, thousands of modules): it took seconds the
    # controller waited for at the end of every run
    os._exit(0)


if __name__ == "__main__":
    main()
