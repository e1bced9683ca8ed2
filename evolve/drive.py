"""Driving one candidate child from the warm worker: read its frames in protocol order, score
each set with the problem's trusted code as it arrives, stop after a cascade stage that does not
pass (each stage with its own timeout), time runtime objectives from outside the child.

`trusted` wraps every call into the problem's own code: a bug there is a `ProblemError`
(`problem_error`, with its traceback) that stops the run, never a candidate's failure.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from evolve import affinity, frames
from evolve.problem import InputMutation, InvalidOutput, Problem, ProblemError, SetScore, Stage
from evolve.program import CandidateError
from evolve.result import EvalResult, classify_exception, set_dict, timing_rng
from evolve.sandbox import Child, ChildExit, Limits, describe_status

MAX_ARTIFACTS, ARTIFACT_CHARS = 16, 8000  # named texts a summary may store per program
PROMPT_ARTIFACT_CHARS = 600  # of each artifact in the feedback (prompts stay short)
PIN_AFTER = 32  # streamed rounds before worker and child share a CPU (see Drive.claim)
# Failure kinds a child may report about itself; anything else it claims is a runtime error.
CHILD_KINDS = frozenset({"syntax_error", "missing_entry", "runtime_error", "memory_limit",
                         "invalid_output", "input_mutation", "engine_error"})


def trusted(fn: Callable, what: str, *args: Any) -> Any:
    """Call the problem's own (trusted) code; a bug there is a ProblemError naming the method,
    with its traceback: the run stops as `failed` instead of blaming a candidate."""
    try:
        return fn(*args)
    except (ProblemError, InvalidOutput, InputMutation, CandidateError, StopIteration):
        raise  # StopIteration: a problem's `feed` generator has returned its outputs
    except Exception as e:  # noqa: BLE001 - anything else is the problem's own bug
        tb = traceback.format_exc(limit=-6)[-3000:]
        raise ProblemError(f"problem_error in {what}: {type(e).__name__}: {e}\n{tb}") from None


class Drive:
    """Reads one child's frames in protocol order and scores them as they arrive."""

    def __init__(self, problem: Problem, child: Child, stages, split_name: str, timed: bool,
                 cascade: list[Stage]):
        self.problem, self.child, self.split_name, self.timed = problem, child, split_name, timed
        self.cascade = {st.name: st for st in cascade}
        self.by_stage = dict(stages)
        self.expected = [(stage, i) for stage, sets in stages for i in range(len(sets))]
        self.scores: dict[str, list[SetScore]] = {name: [] for name, _ in stages}
        self.call_seconds: np.ndarray | None = None
        self.call_quality: np.ndarray | None = None
        self.last = time.monotonic()
        self.notify: Callable[[dict], None] | None = None
        # (split, sets, threshold): run `split` in the same child when the full stage scores at
        # least threshold (worker.evaluate_task); `main` holds the full stage's result by then
        self.then: tuple[str, list, float] | None = None
        self.then_scores: list[SetScore] | None = None
        self.then_t0 = 0.0
        self.main: EvalResult | None = None
        self.pos = 0
        # A long ping-pong (spot's ~2,000 rounds) runs worker and child on one claimed CPU,
        # from round PIN_AFTER on: by then the candidate has compiled and the worker has forked
        # its next standby (a few rounds, SMTT's one per set, are not worth a shared CPU).
        self.claim = affinity.Claim()
        self.rounds = 0
        self.early = 0
        # streaming problems: the stage being fed to the child, and its feed
        self.feeding: tuple[str, Any] | None = None
        self._limit_stage(stages[0][0] if stages else "full")

    def _limit_stage(self, name: str) -> None:
        """A cascade stage with its own timeout: its results are due that long from now."""
        st = self.cascade.get(name) if name != "full" else None
        if st is not None and st.timeout_s:
            self.child.deadline = min(self.child.deadline, time.monotonic() + float(st.timeout_s))

    def run(self) -> EvalResult:
        outcome: EvalResult | tuple[str, str] | None = None
        try:
            if self.problem.streams and self.expected:
                outcome = self._open(self.expected[0][0])
            if outcome is None:
                outcome = self._read()
        except frames.FrameError as e:
            outcome = ("invalid_output", f"the candidate process broke the result protocol: {e}")
        finally:
            self.claim.release()
            end = self.child.close(need_status=outcome is None)
        if self.main is not None and not isinstance(outcome, EvalResult):
            outcome = self.main  # the `then` split failed: only its evaluation is dropped
        if isinstance(outcome, EvalResult):
            outcome.output = end.output[-4000:]
            if self.problem.whole_program and end.output.strip():
                # what the program printed is part of what the evaluator saw (OpenEvolve's stderr)
                outcome.feedback += f"\n[output]\n{end.output[-PROMPT_ARTIFACT_CHARS:]}"
            return outcome
        kind, msg = exit_failure(end, self.child.limits) if outcome is None else outcome
        res = EvalResult.failure(kind, msg, output=end.output[-4000:])
        res.stage = self.expected[self.pos][0] if self.pos < len(self.expected) else "full"
        return res

    def _read(self) -> EvalResult | tuple[str, str] | None:
        while (frame := self.child.next_frame()) is not None:
            header, arrays = frame
            kind = header["type"]
            pos = self.pos
            if kind == "error":
                return reported(header)
            if kind == "out" and self.feeding is not None:
                done = self._fed(header, arrays)
                if done is not None:
                    return done
                continue
            if kind == "set" and pos < len(self.expected) and not self.problem.streams:
                if (header.get("stage"), header.get("index")) != self.expected[pos]:
                    raise frames.FrameError(f"result for set {header.get('index')!r} of stage "
                                            f"{str(header.get('stage'))[:20]!r} out of order")
                failed = self._set_done(*self.expected[pos], arrays)
                if failed is not None:
                    return failed
                continue
            if kind == "ready" and self.timed and pos == len(self.expected) \
                    and self.call_seconds is None:
                failed = self._time_calls()  # None: done, or the next frame tells why not
                if failed is not None:
                    return failed
                continue
            if kind == "await" and self.then is not None and self.main is None \
                    and pos == len(self.expected) and not self.timed:
                if not self._await():
                    return self.main  # the validation could not start: the full stage stands
                continue
            if kind == "set" and self.then_scores is not None and not self.problem.streams \
                    and self.main is not None and self.then is not None:
                if header.get("stage") != "then" or \
                        header.get("index") != len(self.then_scores) or \
                        len(self.then_scores) >= len(self.then[1]):
                    raise frames.FrameError("a validation set out of order")
                failed = self._set_done("then", len(self.then_scores), arrays)
                if failed is not None:
                    return self.main
                continue
            if kind == "done" and self.main is not None:
                return self._with_then(frames.text(header.get("fallback"), 300))
            if kind == "done" and pos == len(self.expected) \
                    and (not self.timed or self.call_seconds is not None):
                fallback = frames.text(header.get("fallback"), 300)
                summary = trusted(self.problem.summarize, "summarize", self.split_name,
                                  self.scores["full"])
                if self.call_seconds is not None:
                    summary = trusted(self.problem.apply_timing, "apply_timing", summary,
                                      self.call_seconds, self.call_quality)
                return _ok(summary, self.scores["full"], "full", fallback, "")
            raise frames.FrameError(f"unexpected {kind[:20]!r} frame after {pos} of "
                                    f"{len(self.expected)} sets")
        return None

    def _await(self) -> bool:
        """The child ran the full stage and waits: go on with the `then` split if it scored
        enough (the result of the full stage is kept whatever happens next). False when a
        streamed validation failed at once."""
        assert self.then is not None
        summary = trusted(self.problem.summarize, "summarize", self.split_name,
                          self.scores["full"])
        self.main = _ok(summary, self.scores["full"], "full", "", "")
        go = summary.score is not None and float(summary.score) >= self.then[2]
        if self.child.send({"type": "then" if go else "stop"}) and go:
            self.then_scores, self.then_t0 = [], time.monotonic()
            if self.problem.streams and self._open("then") is not None:
                self.then_scores = None  # the validation is dropped, the full stage stands
                return False
        return True

    def _with_then(self, fallback: str) -> EvalResult:
        assert self.main is not None and self.then is not None
        main, scores = self.main, self.then_scores
        if fallback or scores is None or len(scores) != len(self.then[1]):
            return main  # nothing to add (a compile fallback: the child sends no `then`)
        summary = trusted(self.problem.summarize, "summarize", self.then[0], scores)
        extra = _ok(summary, scores, "full", "", "")
        extra.seconds = time.monotonic() - self.then_t0
        main.then = extra.to_dict()
        return main

    def _set_done(self, stage: str, idx: int, outputs: dict) -> EvalResult | tuple[str, str] | None:
        """Score a set whose outputs are complete; a failure (or a cascade stop) is returned."""
        if stage == "then":
            assert self.then is not None and self.then_scores is not None
            try:
                self.then_scores.append(trusted(self.problem.score_set, "score_set",
                                                self.then[1][idx], outputs))
            except (InvalidOutput, InputMutation, CandidateError) as e:
                return classify_exception(e)
            return None
        failed = self._score(stage, idx, outputs)
        if failed is not None:
            return failed
        self.pos += 1
        if stage != "full" and len(self.scores[stage]) == len(self.by_stage[stage]):
            return self._stage_done(stage)
        return None

    def _stage_sets(self, stage: str) -> list:
        return self.then[1] if stage == "then" and self.then else self.by_stage[stage]

    def _open(self, stage: str) -> EvalResult | tuple[str, str] | None:
        """Start feeding a stage's sets to the child: its first round (streaming problems)."""
        self.feeding = (stage, trusted(self.problem.feed, "feed", list(self._stage_sets(stage))))
        self.early = 0  # sets of this stage scored before its feed returned
        return self._step(None)

    def _fed(self, header: dict, arrays: dict) -> EvalResult | tuple[str, str] | None:
        """The child's outputs for the round it was sent: feed them, send the next round."""
        assert self.feeding is not None
        if header.get("stage") != self.feeding[0]:
            raise frames.FrameError("outputs for a stage that is not being fed")
        stage = self.feeding[0]
        failed = self._step(arrays)
        if failed is not None and stage == "then":
            return self.main  # the `then` split failed: the full stage stands
        return failed

    def _step(self, arrays: dict | None) -> EvalResult | tuple[str, str] | None:
        assert self.feeding is not None
        stage, rounds = self.feeding
        try:
            inputs = trusted(next, "feed", rounds) if arrays is None else \
                trusted(rounds.send, "feed", arrays)
        except StopIteration as end:
            self.feeding = None
            return self._fed_all(stage, end.value)
        except (InvalidOutput, InputMutation, CandidateError) as e:
            self.feeding = None
            kind, msg = classify_exception(e)  # the outputs came from the untrusted side
            return ("invalid_output" if kind == "runtime_error" else kind), msg
        self.rounds += 1
        if self.rounds == PIN_AFTER:
            self.claim.take()
        self.child.send({"type": "in", "stage": stage, "cpu": self.claim.cpu}, inputs)
        return self._score_early(stage, rounds)

    def _score_early(self, stage: str, rounds: Any) -> EvalResult | tuple[str, str] | None:
        """Score the sets a per-set feed has finished (episode.EachSet) while the child computes
        the next one, in order; `_fed_all` scores the rest."""
        done = getattr(rounds, "done", None)
        while isinstance(done, list) and self.early < len(done):
            idx, self.early = self.early, self.early + 1
            failed = self._set_done(stage, idx, done[idx])
            if failed is not None:
                self.feeding = None
                return failed
        return None

    def _fed_all(self, stage: str, outputs: Any) -> EvalResult | tuple[str, str] | None:
        """A stage's feed is done: score its sets in order, then feed the next stage."""
        count = len(self._stage_sets(stage))
        if not isinstance(outputs, list) or len(outputs) != count:
            raise ProblemError(f"problem_error in feed: returned {type(outputs).__name__}, "
                               f"expected a list of {count} sets' outputs")
        if not self.child.send({"type": "fin", "stage": stage}):
            return None  # the child's exit tells what happened
        for idx, out in enumerate(outputs):
            if idx < self.early:
                continue  # scored while the child computed the next set
            failed = self._set_done(stage, idx, out)
            if failed is not None:
                return failed
        if stage != "then" and self.pos < len(self.expected):
            return self._open(self.expected[self.pos][0])
        return None

    def _stage_done(self, stage: str) -> EvalResult | None:
        """A cascade stage is scored: stop here (recorded with the stage's name) unless it
        passes; the next stage's own timeout starts now."""
        summary = trusted(self.problem.summarize, "summarize", stage, self.scores[stage])
        st = self.cascade[stage]
        if not trusted(st.passes, f"the pass rule of stage {stage!r}", summary):
            return _ok(summary, self.scores[stage], stage, "", "")
        if self.pos < len(self.expected):
            self._limit_stage(self.expected[self.pos][0])
        return None

    def _score(self, stage: str, idx: int, arrays: dict) -> tuple[str, str] | None:
        try:
            s = trusted(self.problem.score_set, "score_set", self.by_stage[stage][idx], arrays)
        except (InvalidOutput, InputMutation, CandidateError) as e:
            kind, msg = classify_exception(e)  # the outputs came from the untrusted side
            return ("invalid_output" if kind == "runtime_error" else kind), msg
        now = time.monotonic()
        s.runtime_s, self.last = now - self.last, now  # measured here, informational only
        self.scores[stage].append(s)
        if self.notify is not None and stage == "full":
            self.notify({"set": s.name, "done": idx + 1, "of": len(self.by_stage[stage]),
                         "n_instances": s.n_instances, "runtime_s": s.runtime_s})
        return None

    def _time_calls(self) -> tuple[str, str] | None:
        """Send the timed calls one at a time: the candidate's CPU time per call, read from /proc,
        and each answer checked by the problem's trusted code against that call's inputs."""
        seconds, quality = [], []
        for k, args in enumerate(self.problem.timing_args(timing_rng())):
            arrays, spec = {}, []
            for j, a in enumerate(args):
                if isinstance(a, np.ndarray):
                    arrays[f"a{j}"] = a
                    spec.append(f"a{j}")
                else:
                    spec.append(a.item() if isinstance(a, np.generic) else a)
            before = self.child.cpu_ns()
            if not self.child.send({"type": "call", "index": k, "args": spec}, arrays):
                return None
            frame = self.child.next_frame()
            after = self.child.cpu_ns()
            if frame is None:
                return None
            if frame[0]["type"] == "error":
                self.child.push_back(frame)
                return None
            if frame[0] != {"type": "ret", "index": k}:
                raise frames.FrameError("unexpected reply to a timed call")
            if before is None or after is None:
                raise frames.FrameError("the candidate's CPU time is unreadable")
            try:
                q = self.problem.check_call(args, frame[1])
            except Exception as e:  # noqa: BLE001 - the answer came from the untrusted side
                kind, msg = classify_exception(e)
                return ("invalid_output" if kind == "runtime_error" else kind,
                        f"timed call {k}: {msg}")
            if k:  # the first call is a warm-up
                seconds.append((after - before) / 1e9)
                quality.append(q)
        self.child.send({"type": "stop"})
        self.call_seconds = np.asarray(seconds, dtype=np.float64)
        self.call_quality = np.asarray(quality, dtype=np.float64)
        return None


def _with_artifacts(feedback: str, artifacts: dict) -> str:
    """The feedback the next prompt sees, with the scorer's artifacts (capped) after it."""
    parts = [feedback] + [f"[{str(k)[:64]}]\n{str(v)[:PROMPT_ARTIFACT_CHARS]}"
                          for k, v in list((artifacts or {}).items())[:MAX_ARTIFACTS]]
    return "\n".join(p for p in parts if p).strip()


def _ok(summary, sets: list[SetScore], stage: str, fallback: str, output: str) -> EvalResult:
    feedback = _with_artifacts(summary.feedback, summary.artifacts)
    if fallback:
        feedback = (feedback + f"\ncompile_fallback: numba could not compile the entry, ran in "
                    f"Python ({fallback[:200]})").strip()
    return EvalResult(
        status="ok",
        score=float(summary.score),
        metrics={k: float(v) for k, v in summary.metrics.items()},
        feedback=feedback,
        behaviour=summary.behaviour,
        stage=stage[:16],
        artifacts={str(k)[:64]: str(v)[:ARTIFACT_CHARS]
                   for k, v in list((summary.artifacts or {}).items())[:MAX_ARTIFACTS]},
        sets=[set_dict(s) for s in sets],
        compile_fallback=fallback,
        output=output[-4000:],
    )


def reported(header: dict) -> tuple[str, str]:
    """(kind, message) of a child's error frame; a kind it may not claim is a runtime error."""
    claimed = header.get("kind")
    return (claimed if claimed in CHILD_KINDS else "runtime_error",
            frames.text(header.get("message"), 2000))


def exit_failure(end: ChildExit, limits: Limits) -> tuple[str, str]:
    """(kind, message) for a child that sent neither a result nor an error: its exit tells."""
    if end.timed_out:
        return "timeout", f"no result within {limits.wall_s:g} s (wall clock)"
    return describe_status(end.status)
