"""The Ray driver: `python -m evolve.ray_bridge FD`, a child of the controller, and its actors.

Ray lives here, not in the controller: Ray's threads, its reconnect logic (which may end the
driver process when the cluster's head is lost) and its runtime never share a process with the
archive and the LLM keys. The controller speaks the workers' protocol to this process
(length-prefixed JSON on stdin and descriptor FD): one `init`, then requests tagged with an id,
answered in any order. Each actor owns one warm `evolve.workerproc` subprocess (the local pool's
`_Worker`, same allowlisted environment and sandbox), started from one long-lived thread of the
actor: candidates are never forked from Ray's multi-threaded worker process itself.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError

from evolve.evaluator import WorkerDied, _Worker
from evolve.sandbox import Limits
from evolve.secrets import child_env
from evolve.workerproc import recv_msg, send_msg


@ray.remote(max_restarts=0, max_task_retries=0)
class EvalActor:
    """One Ray actor: a warm sandbox worker process on its node, fed one request at a time."""

    def __init__(self, payload: dict):
        self.payload = payload
        names = set(payload["secret_names"])
        # the node's own allowlisted environment: nothing of the controller's travels but names
        self.env = {k: v for k, v in child_env().items() if k not in names}
        self.env.update(payload["marker"])
        lim = payload["limits"]
        self.limits = Limits(**{**lim, "hide": tuple(lim.get("hide", ()))})
        cwd = payload.get("cwd")
        self.cwd = cwd if cwd and os.path.isdir(cwd) else None  # relative problem targets
        # the worker's death signal follows the thread that started it: one that lives on
        self.spawner = ThreadPoolExecutor(1, thread_name_prefix="evolve-spawn")
        self.worker: _Worker | None = None

    def _spawn(self) -> dict:
        self.worker = self.spawner.submit(_Worker, self.payload["problem_cfg"], self.limits,
                                          self.env, self.cwd).result()
        return self.worker.ready

    def ping(self) -> str:
        return str(ray.get_runtime_context().get_node_id())

    def warm(self) -> dict:
        """Start the warm worker (imports, numba compiles: minutes on a busy machine)."""
        return self._spawn()

    def request(self, msg: dict) -> dict:
        assert self.worker is not None
        try:
            return self.worker.request(msg)
        except WorkerDied:
            self.worker.stop()
            self._spawn()
            return {"worker_died": True}

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


class Lost(Exception):
    """No actor is left and none can be started: the cluster is gone for this run."""


class Pool:
    """Actors of one run: a task whose actor dies is resubmitted once to another; the pool refills
    when the cluster has room and shrinks when it has not."""

    def __init__(self, init: dict):
        self.size = int(init["workers"])
        self.timeout = float(init["start_timeout_s"])
        self.options: dict[str, Any] = {"num_cpus": float(init["num_cpus"]),
                                        "resources": dict(init.get("resources") or {}),
                                        "scheduling_strategy": "SPREAD"}
        self.payload_ref = ray.put(init["payload"])  # fetched once per node, not per task
        self.idle: asyncio.Queue = asyncio.Queue()
        self.live: set = set()
        self.refilling = 0
        self.stats = {"resubmitted": 0, "actors_lost": 0, "actors_refilled": 0}
        self.nodes: set[str] = set()

    async def _new_actor(self) -> tuple[Any, dict]:
        actor = EvalActor.options(**self.options).remote(  # type: ignore[attr-defined]
            self.payload_ref)
        try:  # the hang guard covers finding room and starting the process, not the warm-up
            node = await asyncio.wait_for(asyncio.wrap_future(actor.ping.remote().future()),
                                          self.timeout)
            ready = await asyncio.wrap_future(actor.warm.remote().future())
        except BaseException:
            ray.kill(actor)
            raise
        return actor, {"ready": ready, "node": node}

    async def start(self) -> dict:
        made = await asyncio.gather(*(self._new_actor() for _ in range(self.size)),
                                    return_exceptions=True)
        for got in made:
            if isinstance(got, BaseException):
                self.kill_all(made)
                if isinstance(got, asyncio.TimeoutError):
                    raise Lost(f"no room for {self.size} actors with {self.options['num_cpus']:g} "
                               f"CPUs and resources {self.options['resources']} within "
                               f"{self.timeout:g} s (evaluator.ray.start_timeout_s)")
                raise got
        first = made[0][1]["ready"]  # type: ignore[index]
        if not first.get("ok"):
            self.kill_all(made)
            return first
        for actor, info in made:  # type: ignore[misc]
            self._adopt(actor, info)
        return first

    def kill_all(self, made: list) -> None:
        for got in made:
            if not isinstance(got, BaseException):
                ray.kill(got[0])

    def _adopt(self, actor: Any, info: dict) -> None:
        self.live.add(actor)
        self.nodes.add(info["node"])
        self.idle.put_nowait(actor)

    async def _take(self) -> Any:
        while True:
            if not self.live and not self.refilling:
                raise Lost("every Ray actor of the run died and no new one could be started")
            try:
                actor = await asyncio.wait_for(self.idle.get(), 1.0)
            except TimeoutError:
                continue
            if actor in self.live:
                return actor

    def _drop(self, actor: Any) -> None:
        if actor in self.live:
            self.live.discard(actor)
            self.stats["actors_lost"] += 1
            asyncio.get_running_loop().create_task(self._refill())

    async def _refill(self) -> None:
        self.refilling += 1
        try:
            actor, info = await self._new_actor()
            if info["ready"].get("ok"):
                self._adopt(actor, info)
                self.stats["actors_refilled"] += 1
            else:
                ray.kill(actor)
        except Exception as e:  # noqa: BLE001 - no room (a node is gone): the pool shrinks
            print(f"ray bridge: refill failed, {len(self.live)} actors left: {e}",
                  file=sys.stderr)
        finally:
            self.refilling -= 1

    async def run(self, msg: dict) -> dict:
        """One task; an actor that dies under it is dropped and the task resubmitted once."""
        for attempt in range(2):
            actor = await self._take()
            try:
                reply = await asyncio.wrap_future(actor.request.remote(msg).future())
            except RayTaskError as e:  # the actor's own code raised: the engine's fault
                self.idle.put_nowait(actor)
                return {"reply": {"ok": False, "kind": "engine", "error": str(e)[-4000:]}}
            except (RayActorError, RayError):
                self._drop(actor)
                if attempt == 0:
                    self.stats["resubmitted"] += 1
                continue
            self.idle.put_nowait(actor)
            if reply.get("worker_died"):
                continue
            return {"reply": reply}
        return {"died": "the evaluation worker died twice on this task (crash in native code, "
                        "or its Ray actors were lost)"}

    async def close(self) -> None:
        actors = list(self.live)
        self.live.clear()
        try:
            await asyncio.wait_for(asyncio.gather(
                *(asyncio.wrap_future(a.close.remote().future()) for a in actors),
                return_exceptions=True), 10)
        except TimeoutError:
            pass
        for a in actors:
            ray.kill(a)


def _connect(init: dict) -> None:
    address = init.get("address")
    kw: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                              configure_logging=False)
    if address:
        ray.init(address=address, **kw)
    else:  # a private local Ray ("local": never a cluster `ray start` left on this machine)
        cpus = int(init["workers"] * max(1.0, float(init["num_cpus"])))
        ray.init(address="local", num_cpus=cpus, **kw)


async def _serve(init: dict, out: int) -> None:
    loop = asyncio.get_running_loop()
    pool = Pool(init)
    try:
        started = await pool.start()
    except Lost as e:
        send_msg(out, {"fatal": str(e)})
        return
    send_msg(out, {"started": started, "nodes": len(pool.nodes)})
    if not started.get("ok"):
        return
    eof = asyncio.Event()

    def read() -> None:  # the controller's requests; end-of-file: it is gone or done
        while (msg := recv_msg(0)) is not None:
            loop.call_soon_threadsafe(_submit, msg)
        loop.call_soon_threadsafe(eof.set)

    tasks: set[asyncio.Task] = set()  # the loop holds tasks weakly

    def _submit(req: dict) -> None:
        task = loop.create_task(handle(req))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def handle(req: dict) -> None:
        try:
            reply = await pool.run(req["msg"])
        except Lost as e:
            reply = {"lost": str(e)}
        send_msg(out, {"id": req["id"], **reply, "stats": pool.stats})

    threading.Thread(target=read, name="evolve-bridge-read", daemon=True).start()
    await eof.wait()
    await pool.close()


def main() -> None:
    out = int(sys.argv[1])
    from evolve import isolation

    isolation.set_death_signal()  # dies with the controller
    parent = int(os.environ.get("EVOLVE_PARENT_PID", "0"))
    if parent and os.getppid() != parent:
        os._exit(1)
    os.dup2(2, 1)  # Ray's prints must not reach a protocol pipe
    init = recv_msg(0)
    if init is None:
        return
    try:
        _connect(init)
    except Exception as e:  # noqa: BLE001 - reported to the controller as one line
        send_msg(out, {"fatal": f"cannot reach the Ray cluster "
                                f"({init.get('address') or 'local'}): "
                                f"{' '.join(str(e).split())[:300]}"})
        return
    try:
        asyncio.run(_serve(init, out))
    except (GetTimeoutError, RayError) as e:
        send_msg(out, {"fatal": f"the Ray cluster failed: {' '.join(str(e).split())[:300]}"})
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
