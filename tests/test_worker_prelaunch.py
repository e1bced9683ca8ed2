"""Workers started before the problem is known (evolve.prelaunch): the pool adopts them only with
exactly the environment it would give its own workers, they evaluate like its own, and the ones
it does not take are stopped."""

from __future__ import annotations

from pathlib import Path

from evolve import prelaunch
from evolve.config import compose, problem_config, to_dict
from evolve.evaluator import Evaluator, worker_env
from evolve.sandbox import Limits
from evolve.session import key_env_names

REPO = Path(__file__).resolve().parents[1]


def _cfg(*overrides: str):
    return compose(["problem=smtt", "evaluator.workers=2", *overrides])


def test_early_workers_with_another_environment_are_stopped_not_taken():
    cfg = _cfg("llm=openai")  # OPENAI_API_KEY: never in a worker's environment
    prelaunch.start(cfg)
    early = list(prelaunch._EARLY)
    assert len(early) == 2
    env, _ = worker_env(key_env_names(to_dict(cfg.llm)))
    assert "OPENAI_API_KEY" not in env and all(w.env == env for w in early)
    assert prelaunch.take(2, {**env, "EVOLVE_SOMETHING_ELSE": "1"}) == []
    assert prelaunch._EARLY == []
    assert all(w.proc.wait(timeout=120) is not None for w in early)


def test_the_pool_adopts_early_workers_and_they_evaluate_as_its_own():
    cfg = _cfg()
    prelaunch.start(cfg)
    pids = {w.proc.pid for w in prelaunch._EARLY}
    seed = (REPO / "seeds" / "smtt" / "edd.py").read_text()
    with Evaluator(problem_config("smtt"), Limits(timeout_s=120, memory_mb=4096),
                   workers=2) as ev:
        assert prelaunch._EARLY == []
        assert {w.proc.pid for w in ev._all} == pids
        res = ev.evaluate_sync(seed)
        assert res.ok, res.error
    fresh = Evaluator(problem_config("smtt"), Limits(timeout_s=120, memory_mb=4096), workers=1)
    with fresh:
        assert not pids & {w.proc.pid for w in fresh._all}
        again = fresh.evaluate_sync(seed)
    assert again.score == res.score and again.metrics.keys() == res.metrics.keys()


def test_early_workers_started_in_another_folder_are_not_taken(tmp_path, monkeypatch):
    cfg = _cfg()
    prelaunch.start(cfg)
    early = list(prelaunch._EARLY)
    env, _ = worker_env(key_env_names(to_dict(cfg.llm)))
    monkeypatch.chdir(tmp_path)  # as a Hydra job with hydra.job.chdir=true
    assert prelaunch.take(2, env) == []
    assert all(w.proc.wait(timeout=120) is not None for w in early)
