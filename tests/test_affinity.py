"""A streamed evaluation's worker and child share one claimed CPU (evolve/affinity.py): one
pair per CPU across processes, the old mask back after, the child following the worker's claim,
and children forked meanwhile free to run anywhere."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from evolve import affinity
from evolve.config import problem_config
from evolve.evaluator import Evaluator
from evolve.sandbox import Limits
from tests.engine_util import ROOT

HOLD = r"""
import json, os, sys
from evolve import affinity
claim = affinity.Claim()
print(json.dumps([claim.take(), sorted(os.sched_getaffinity(0))]), flush=True)
sys.stdin.readline()
claim.release()
print(json.dumps(sorted(os.sched_getaffinity(0))), flush=True)
"""

CHILD = r"""
import json, os, sys
from evolve import frames, sandbox, worker
from evolve.sandbox import Limits

limits = Limits(timeout_s=30)
worker.init_worker({"name": "sorting", "target": sys.argv[1], "instances": 2, "n": 5}, limits)
plan = worker._STATE["plan"]
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # as a streaming worker is
child = sandbox.Child(lambda task, res, cmd: frames.write(
    res, {"type": "done", "cpus": sorted(os.sched_getaffinity(0))}), limits, plan)
child.start({"type": "noop"})
header, _ = child.next_frame()
child.close()
print(json.dumps(header["cpus"]))
"""


def _env(tmp_path) -> dict[str, str]:
    return dict(os.environ, EVOLVE_CPU_LOCKS=str(tmp_path))  # lock files of this test only


def test_a_cpu_is_claimed_by_one_pair_at_a_time_and_the_mask_comes_back(tmp_path):
    everywhere = sorted(os.sched_getaffinity(0))
    first = subprocess.Popen([sys.executable, "-c", HOLD], cwd=ROOT, env=_env(tmp_path),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert first.stdin is not None and first.stdout is not None
    cpu, mask = json.loads(first.stdout.readline())
    assert cpu in everywhere and mask == [cpu]  # pinned to the CPU it claimed
    second = subprocess.run([sys.executable, "-c", HOLD], cwd=ROOT, env=_env(tmp_path),
                            input="\n", capture_output=True, text=True, timeout=120)
    (cpu2, mask2), after2 = (json.loads(line) for line in second.stdout.splitlines())
    assert cpu2 != cpu  # never the CPU another pair streams on
    assert mask2 == ([cpu2] if cpu2 >= 0 else everywhere)
    assert (cpu2 == -1) == (len(everywhere) == 1) and after2 == everywhere
    out, _ = first.communicate("\n", timeout=120)
    assert json.loads(out) == everywhere  # released: the worker runs anywhere again
    third = subprocess.run([sys.executable, "-c", HOLD], cwd=ROOT, env=_env(tmp_path),
                           input="\n", capture_output=True, text=True, timeout=120)
    assert json.loads(third.stdout.splitlines()[0])[0] in everywhere  # free again


def test_no_claim_through_a_folder_that_is_not_ours(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)  # a link planted where the locks would go
    folders = [tmp_path / "link"]
    if os.getuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir()
        os.chown(theirs, 65534, 65534)  # another user's folder
        folders.append(theirs)
    for folder in folders:
        out = subprocess.run([sys.executable, "-c", HOLD], cwd=ROOT, input="\n", text=True,
                             env=dict(os.environ, EVOLVE_CPU_LOCKS=str(folder)),
                             capture_output=True, timeout=120)
        assert json.loads(out.stdout.splitlines()[0]) == [-1, sorted(os.sched_getaffinity(0))]
    assert not list(real.iterdir())


def test_the_child_follows_the_claim_and_ignores_anything_else():
    before = os.sched_getaffinity(0)
    cpu = min(before)
    try:
        assert affinity.follow(cpu, -1) == cpu and os.sched_getaffinity(0) == {cpu}
        for junk in ("0", -1, 1.0, None, True, 1 << 20):
            assert affinity.follow(junk, cpu) == cpu and os.sched_getaffinity(0) == {cpu}
    finally:
        os.sched_setaffinity(0, before)


def test_a_child_forked_by_a_pinned_worker_runs_anywhere():
    target = str(ROOT / "tests/problems/sorting.py") + ":SortingProblem"
    out = subprocess.run([sys.executable, "-c", CHILD, target], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == sorted(os.sched_getaffinity(0))


# A spot policy numba cannot compile (it calls os), so it runs in Python: it reports the CPUs it
# may run on at its first call and late in the stream (well past drive.PIN_AFTER rounds).

def _reporting_policy() -> str:
    code = (ROOT / "seeds/spot_single/up.py").read_text()
    code = code.replace("import math\n", "import math\nimport os\nCALLS = [0]\n", 1)
    return code.replace("    pace = 1.0\n", (
        "    pace = 1.0\n"
        "    CALLS[0] += 1\n"
        "    if CALLS[0] in (1, 3000):\n"
        "        print('cpus', CALLS[0], sorted(os.sched_getaffinity(0)), flush=True)\n"), 1)


@pytest.mark.parametrize("locks", ["private", "off"])
def test_a_long_stream_runs_its_child_on_the_claimed_cpu(tmp_path, monkeypatch, locks):
    everywhere = sorted(os.sched_getaffinity(0))
    monkeypatch.setenv("EVOLVE_CPU_LOCKS", str(tmp_path) if locks == "private" else "off")
    with Evaluator(problem_config("spot_single"), Limits(timeout_s=600), workers=1) as pool:
        res = asyncio.run(pool.evaluate(_reporting_policy(), split="train"))
        seed = asyncio.run(pool.evaluate((ROOT / "seeds/spot_single/up.py").read_text(),
                                         split="train"))
    assert res.ok and res.metrics["mean_cost"] == seed.metrics["mean_cost"]  # same decisions
    lines = [line.split(" ", 2) for line in res.output.splitlines() if line.startswith("cpus")]
    seen = {int(call): json.loads(cpus) for _, call, cpus in lines}
    assert seen[1] == everywhere  # compiled and started where the kernel put it
    late = seen[3000]
    assert late == everywhere if locks == "off" else len(late) == 1 and late[0] in everywhere
