"""Streaming sets to a candidate: the data stays in the worker, the child sees one round at a time.

Whatever sits in a candidate's process, the candidate can read: frames up its call stack, every
object `gc` knows, the problem's caches, its modules' caches. A problem that `streams` therefore
never hands its sets to the child. `Problem.feed(isets)` (trusted, in the worker) takes the sets
of one stage (a cascade stage, the split, the validation), yields the visible inputs of one round,
receives the candidate's outputs for it, and only then builds the next round: an MoE placement is
committed before the window that scores it is sent, a spot policy's actions for tick t before the
availability at t+1 exists in its process (on one clock for every job of the stage, so that no
job's past is another one's future). The child answers with `Problem.respond`, after
`forget_data` has dropped what it inherited from the worker at the fork.

Protocol (frames.py): worker -> child `in` {stage} + arrays, child -> worker `out` {stage} +
arrays, one `out` per `in`; `fin` {stage} ends the stage. In-process (trusted callers: baselines,
tests, constant tuning), `run_locally` plays both sides.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from evolve import affinity, frames
from evolve.problem import LIVE_SETS, Candidate, Feed, InstanceSet, Problem, SetFeed
from evolve.program import CandidateError


def run_locally(problem: Problem, candidate: Candidate,
                isets: list[InstanceSet]) -> list[dict[str, np.ndarray]]:
    """`feed` and `respond` in one process: each set's outputs, as the sandbox would get them."""
    rounds = problem.feed(isets)
    state: dict[str, Any] = {}
    try:
        inputs = next(rounds)
        while True:
            inputs = rounds.send(problem.respond(candidate, state, inputs))
    except StopIteration as end:
        return end.value


class EachSet(Generator[dict[str, np.ndarray], dict[str, np.ndarray],
                        list[dict[str, np.ndarray]]]):
    """A stage's feed made of one feed per set, in order (sets that share no clock). `done`
    holds the outputs of the sets finished so far: the worker scores them while the child
    computes the next set."""

    def __init__(self, feed_one: Callable[[InstanceSet], SetFeed], isets: list[InstanceSet]):
        self.done: list[dict[str, np.ndarray]] = []
        self._rounds = self._run(feed_one, isets)

    def _run(self, feed_one: Callable[[InstanceSet], SetFeed], isets: list[InstanceSet]) -> Feed:
        for iset in isets:
            self.done.append((yield from feed_one(iset)))
        return self.done

    def send(self, value: Any) -> dict[str, np.ndarray]:
        return self._rounds.send(value)

    def throw(self, *args: Any) -> Any:
        return self._rounds.throw(*args)


def each_set(feed_one: Callable[[InstanceSet], SetFeed], isets: list[InstanceSet]) -> EachSet:
    """A stage's feed made of one feed per set (see EachSet); return it from `Problem.feed`."""
    return EachSet(feed_one, isets)


# what loads or builds data: a candidate child's problem answers these with an error
_LOADERS = ("instance_sets", "gate_sets", "cascade", "load_instances", "warm_up", "timing_args")


def forget_data(problem: Problem) -> None:
    """In a candidate child: drop every instance set inherited from the worker (their objects
    stay, emptied, wherever a frame or a cache still points at them) and the problem's caches,
    and make the problem object refuse to load data again (files are hidden from the child
    anyway; data a problem generates from public seeds stays reproducible by any code)."""
    for iset in list(LIVE_SETS.values()):
        object.__setattr__(iset, "data", None)
    problem.forget()
    for name in _LOADERS:
        setattr(problem, name, _sealed)


def _sealed(*_args: Any, **_kwargs: Any) -> Any:
    raise PermissionError("instance data is not available in a candidate's process")


class Inbox:
    """The child's reader of the worker's command pipe (one reader: frames may arrive together)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.reader = frames.FrameReader(1 << 31, 1 << 62)
        self.pending: list[tuple[dict[str, Any], dict[str, np.ndarray]]] = []

    def get(self) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """The next frame from the worker; None when it closed the pipe."""
        while not self.pending:
            data = os.read(self.fd, 1 << 20)
            if not data:
                return None
            self.pending.extend(self.reader.feed(data))
        return self.pending.pop(0)


def serve_stage(problem: Problem, candidate: Candidate, stage: str, inbox: Inbox,
                res: int) -> bool:
    """Child side of one stage: answer each `in` until `fin`; False when the worker stopped."""
    state: dict[str, Any] = {}
    cpu = -1
    while (frame := inbox.get()) is not None:
        header, arrays = frame
        if header.get("stage") != stage or header.get("type") not in ("in", "fin"):
            return False
        if header["type"] == "fin":
            return True
        cpu = affinity.follow(header.get("cpu"), cpu)
        outputs = check_outputs(problem.respond(candidate, state, arrays))
        frames.write(res, {"type": "out", "stage": stage}, outputs)
    return False


def check_outputs(outputs: Any) -> dict[str, np.ndarray]:
    """The child's outputs as plain numeric arrays (anything else is the candidate's fault)."""
    if not isinstance(outputs, dict):
        raise CandidateError("invalid_output", f"problem.run returned {type(outputs).__name__}")
    clean = {}
    for k, v in outputs.items():
        a = np.asarray(v)
        if a.dtype.str.replace(">", "<") not in frames.DTYPES:
            raise CandidateError("invalid_output", f"output {k!r} is not a plain numeric array")
        clean[str(k)] = a
    return clean


def go_on(inbox: Inbox, res: int) -> bool:
    """Ask the worker whether to run the `then` split too (it scored the full stage by now)."""
    frames.write(res, {"type": "await"})
    frame = inbox.get()
    return frame is not None and frame[0].get("type") == "then"


def serve_calls(problem: Problem, candidate: Candidate, inbox: Inbox, res: int) -> None:
    """Answer the worker's timed calls one by one (inputs arrive only now)."""
    while (frame := inbox.get()) is not None:
        header, arrays = frame
        if header.get("type") != "call":
            return
        args = tuple(arrays[a] if isinstance(a, str) else a for a in header["args"])
        outputs = check_outputs(problem.call_entry(candidate, args))
        frames.write(res, {"type": "ret", "index": header["index"]}, outputs)
