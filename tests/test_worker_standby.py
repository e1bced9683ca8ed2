"""The warm worker's per-candidate chores stay off the evaluation's critical path (issue 18)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.engine_util import ROOT

# Runs in its own process: it is a worker (it forks sandboxed children and freezes its heap).
SCRIPT = r"""
import json, sys
from evolve import sandbox, worker
from evolve.sandbox import Limits

problem = {"name": "sorting", "target": sys.argv[1], "instances": 4, "n": 10}
worker.init_worker(problem, Limits(timeout_s=30))
sandbox.IDLE_AFTER_S = 0.0  # any quiet moment counts: no timing in this test
before = worker._STATE.get("standby") is not None
code = (
    "import gc\n"
    "import numpy as np\n"
    "print('frozen', gc.get_freeze_count())\n"
    "def solve(x):\n"
    "    return np.argsort(x)\n"
)
res = worker.evaluate_task(code)
standby = worker._STATE.get("standby")
print(json.dumps({"status": res["status"], "output": res["output"], "standby_before": before,
                  "standby_after": standby is not None and standby.alive()}))
worker.shut_down()
"""


def test_next_child_forks_while_the_candidate_computes_and_skips_the_workers_heap():
    target = str(ROOT / "tests/problems/sorting.py") + ":SortingProblem"
    out = subprocess.run([sys.executable, "-c", SCRIPT, target], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == "ok"
    # no refill was asked for after the result: the standby was forked while the child ran
    assert not got["standby_before"] and got["standby_after"]
    # the worker's objects are frozen in the child: its collections never walk them
    frozen = int(got["output"].split("frozen", 1)[1].split()[0])
    assert frozen > 10_000


# The candidate's stdout flushes slowly: whatever it printed must still reach the archive,
# because the worker kills the child as soon as it has read the result.
SLOW_FLUSH = r"""
import json, sys
from evolve import worker
from evolve.sandbox import Limits

worker.init_worker({"name": "sorting", "target": sys.argv[1], "instances": 4, "n": 10},
                   Limits(timeout_s=30))
code = (
    "import sys, time\n"
    "import numpy as np\n"
    "class Slow:\n"
    "    def __init__(self, inner):\n"
    "        self.inner = inner\n"
    "    def write(self, text):\n"
    "        return self.inner.write(text)\n"
    "    def flush(self):\n"
    "        time.sleep(1.0)\n"
    "        self.inner.flush()\n"
    "print('printed at import', end=' ')\n"
    "sys.stdout = Slow(sys.stdout)\n"
    "def solve(x):\n"
    "    print('printed while solving', end=' ')\n"
    "    return np.argsort(x)\n"
)
res = worker.evaluate_task(code)
print(json.dumps({"status": res["status"], "output": res["output"]}))
worker.shut_down()
"""


def test_what_a_candidate_printed_is_kept_however_slowly_it_flushes():
    target = str(ROOT / "tests/problems/sorting.py") + ":SortingProblem"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # block-buffered
    out = subprocess.run([sys.executable, "-c", SLOW_FLUSH, target], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == "ok"
    assert "printed at import" in got["output"] and "printed while solving" in got["output"]
