"""`evaluator.backend=ray`: the pool's interface, with the warm workers on Ray actors.

The controller never imports Ray: it starts `evolve.ray_bridge` (the Ray driver) as a child with
an allowlisted environment and speaks the workers' JSON protocol to it. Actor deaths are the
bridge's business (resubmit once, refill or shrink); the bridge itself dying, or having no actor
left, means the cluster is lost: `EvaluatorLost`, and the session stops the run, resumable.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from evolve.config import ConfigError, to_dict
from evolve.evaluator import Evaluator, EvaluatorLost, WorkerDied
from evolve.problem import ProblemError
from evolve.sandbox import Limits
from evolve.secrets import SECRET_NAME, child_env
from evolve.workerproc import recv_msg, send_msg

log = logging.getLogger("evolve")

# what a Ray driver needs beyond the workers' allowlist (never a secret-named variable)
BRIDGE_ENV = ("HOME", "USER", "LOGNAME", "TMPDIR", "RAY_ADDRESS")


def make_evaluator(cfg: DictConfig, problem_cfg: dict, limits: Limits, *,
                   secret_envs: Iterable[str] = (), run_dir: Path | None = None,
                   local: type[Evaluator] = Evaluator) -> Evaluator:
    """The evaluator `cfg.evaluator.backend` names (not started); `local` is the local pool's
    class (the caller's name for it, so tests can swap it)."""
    ev = cfg.evaluator
    common = dict(workers=int(ev.workers), gate=bool(ev.gate), seed=int(cfg.search.seed),
                  secret_envs=list(secret_envs))
    if str(ev.backend) == "ray":
        return RayEvaluator(problem_cfg, limits, ray_cfg=to_dict(ev.ray), run_dir=run_dir,
                            **common)  # type: ignore[arg-type]
    return local(problem_cfg, limits, **common)  # type: ignore[arg-type]


def check_backend(cfg: DictConfig) -> None:
    """Before a run is created: a named cluster must answer (else one line, exit 2)."""
    ev = cfg.evaluator
    if str(ev.backend) != "ray" or not ev.ray.address:
        return
    address = str(ev.ray.address)
    key = f"evaluator.ray.address={address}"
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address

        try:
            found = canonicalize_bootstrap_address("auto")
        except Exception:  # noqa: BLE001 - any failure to find one is the same answer
            found = None
        if not found:
            raise ConfigError(f"{key}: no running Ray cluster found on this machine (start one "
                              "with `ray start --head`, or give host:port)")
        address = found
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{key}: expected auto, host:port or ray://host:port")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise ConfigError(f"{key}: the Ray cluster does not answer ({e.strerror or e})") from None


class RayEvaluator(Evaluator):
    """The local pool's interface (start/close/evaluate/evaluate_sync/call/overhead/isolation)
    with one warm worker per Ray actor, reached through the bridge process."""

    def __init__(self, problem_cfg: dict, limits: Limits | None = None, workers: int = 2,
                 gate: bool = True, seed: int = 0, secret_envs: Iterable[str] = (),
                 ray_cfg: dict | None = None, run_dir: Path | None = None):
        super().__init__(problem_cfg, limits, workers, gate, seed, secret_envs)
        self.ray_cfg = dict(ray_cfg or {})
        self.secret_names = sorted(set(secret_envs))
        self.run_dir = run_dir
        self.stats: dict[str, int] = {"resubmitted": 0, "actors_lost": 0, "actors_refilled": 0}
        self.nodes = 0
        self._bridge: subprocess.Popen | None = None
        self._out = -1
        self._send_lock = threading.Lock()
        self._pending: dict[int, Future] = {}
        self._ids = itertools.count(1)
        self._lost: str | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> RayEvaluator:
        with self._lock:
            if self._bridge is not None:
                return self
            if self._lost is not None:
                raise EvaluatorLost(self._lost)
            self._spawner = ThreadPoolExecutor(1, thread_name_prefix="evolve-spawn")
            self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="evolve-eval")
            self._bridge = self._spawner.submit(self._spawn_bridge).result()
        assert self._bridge.stdin is not None
        send_msg(self._bridge.stdin.fileno(), self._init_msg())
        first = recv_msg(self._out)  # hang guard: the bridge's own start_timeout_s
        if not isinstance(first, dict) or "started" not in first:
            why = first.get("fatal") if isinstance(first, dict) else None
            self.close()
            raise EvaluatorLost(why or "the Ray driver process ended while starting")
        ready = first["started"]
        if not ready.get("ok"):
            self.close()
            raise ProblemError(str(ready.get("error", "the worker failed to start")).strip()
                               .splitlines()[-1])
        self.isolation, self.isolation_detail = ready["value"]["isolation"], \
            ready["value"]["detail"]
        self.nodes = int(first.get("nodes", 0))
        log.info("ray: %d actors on %d node(s)", self.workers, self.nodes)
        threading.Thread(target=self._read, name="evolve-ray-read", daemon=True).start()
        return self

    def _spawn_bridge(self) -> subprocess.Popen:
        r, w = os.pipe()
        env = {k: v for k, v in child_env().items() if k not in self.secret_names}
        env.update({k: os.environ[k] for k in BRIDGE_ENV
                    if k in os.environ and not SECRET_NAME.search(k)})
        env.update({k: v for k, v in os.environ.items()  # Ray's own tuning knobs
                    if k.startswith("RAY_") and not SECRET_NAME.search(k)})
        env["EVOLVE_PARENT_PID"] = str(os.getpid())
        # inherited by a private Ray's processes too: what belongs to this run can be found
        env["EVOLVE_CONTROLLER_PID"] = str(os.getpid())
        proc = subprocess.Popen([sys.executable, "-m", "evolve.ray_bridge", str(w)],
                                stdin=subprocess.PIPE, pass_fds=(w,), env=env)
        os.close(w)
        self._out = r
        return proc

    def _init_msg(self) -> dict:
        import dataclasses

        limits = dataclasses.asdict(self.limits)
        limits["hide"] = list(self.limits.hide)
        rc = self.ray_cfg
        return {"address": rc.get("address"), "workers": self.workers,
                "num_cpus": float(rc.get("num_cpus", 1.0)),
                "resources": dict(rc.get("resources") or {}),
                "start_timeout_s": float(rc.get("start_timeout_s", 120.0)),
                "payload": {"problem_cfg": self.problem_cfg, "limits": limits,
                            "secret_names": self.secret_names, "cwd": os.getcwd(),
                            "marker": {"EVOLVE_CONTROLLER_PID": str(os.getpid())}}}

    def _read(self) -> None:
        """Replies, in any order, to their waiting requests; end-of-file fails them all."""
        while True:
            try:
                msg = recv_msg(self._out)
            except (OSError, ValueError):
                msg = None
            if not isinstance(msg, dict):
                break
            self.stats.update(msg.get("stats") or {})
            fut = self._pending.pop(int(msg.get("id", 0)), None)
            if fut is not None:
                fut.set_result(msg)
        self._lost = self._lost or "Ray cluster lost: the Ray driver process ended"
        for fut in list(self._pending.values()):
            fut.set_result({"lost": self._lost.removeprefix("Ray cluster lost: ")})
        self._pending.clear()

    def close(self) -> None:
        proc, self._bridge = self._bridge, None
        if proc is not None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()  # end-of-file: the bridge stops its actors and leaves
                proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
            try:
                os.close(self._out)
            except OSError:
                pass
            self._record()
        for pool in (self._threads, self._spawner):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._threads = self._spawner = None

    def _record(self) -> None:
        """The fault counts go to run.json (and run.log): what a user asks after a node died."""
        log.info("ray: %(resubmitted)d tasks resubmitted, %(actors_lost)d actors lost, "
                 "%(actors_refilled)d started again", self.stats)
        if self.run_dir is None or not (self.run_dir / "run.json").exists():
            return
        path = self.run_dir / "run.json"
        try:
            info = json.loads(path.read_text())
            info["ray"] = {**self.stats, "nodes": self.nodes,
                           "resubmitted_total": int((info.get("ray") or {})
                                                    .get("resubmitted_total", 0))
                           + self.stats["resubmitted"]}
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(info) + "\n")
            tmp.replace(path)
        except (OSError, ValueError) as e:
            log.warning("could not record the Ray fault counts in run.json: %s", e)

    # ---- requests -------------------------------------------------------------------------
    def _request(self, op: str, args: dict, on_note: Callable[[dict], None] | None = None) -> Any:
        self.start()
        fut: Future = Future()
        rid = next(self._ids)
        self._pending[rid] = fut
        if self._lost is not None:  # the reader has already failed everything it knew of
            self._pending.pop(rid, None)
            raise EvaluatorLost(self._lost)
        try:
            with self._send_lock:
                assert self._bridge is not None and self._bridge.stdin is not None
                send_msg(self._bridge.stdin.fileno(), {"id": rid, "msg": {"op": op,
                                                                           "args": args}})
        except (OSError, AssertionError):
            self._pending.pop(rid, None)
            raise EvaluatorLost(self._lost or "the Ray driver process is gone") from None
        reply = fut.result()
        if "lost" in reply:
            self._lost = self._lost or f"Ray cluster lost: {reply['lost']}"
            raise EvaluatorLost(self._lost)
        if "died" in reply:
            raise WorkerDied(str(reply["died"]))
        return self._unpack(reply["reply"])
