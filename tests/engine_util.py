"""Helpers for engine tests: run the real `evolve` CLI in a subprocess, read its archive."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SORTING = ["--config-dir", str(ROOT / "tests" / "conf"), "problem=sorting"]


def evolve_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "evolve.app", *args]


def run_evolve(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(evolve_cmd(*args), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"evolve failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def rows(run_dir: Path, sql: str) -> list[tuple]:
    # read-only URI: opening must never create the file (a run refuses a non-empty folder)
    con = sqlite3.connect(f"file:{run_dir / 'archive.sqlite'}?mode=ro", uri=True, timeout=30)
    try:
        return list(con.execute(sql))
    finally:
        con.close()


def write_variants(folder: Path, n: int) -> list[Path]:
    """n distinct valid sorting programs (different constants, same behaviour class)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"variant_{i:03d}.py"
        p.write_text(
            "import numpy as np\n\n\ndef solve(x):\n    n = x.shape[0]\n    key = np.empty(n)\n"
            "    for i in range(n):\n"
            f"        key[i] = x[i] + {i / (10 * n):.6f} * (i / n)\n"
            "    return np.argsort(key)\n")
        paths.append(p)
    return paths
