"""Archive write throughput: programs recorded per second on SQLite vs PostgreSQL, side by side
in one process, with one writer and with two concurrent writers (separate processes, one run
each, as two `evolve` drivers sharing a database). Each program is one `Archive.record`
transaction, as the loop writes them. Prints one JSON document.

    python benchmarks/archive_write.py [--programs 400] [--pg-url postgresql+psycopg://...]

Without --pg-url a throwaway server is started (initdb/pg_ctl, as the tests do) and stopped.
The PostgreSQL password, if any, comes from PGPASSWORD or ~/.pgpass.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evolve.archive import Archive, Program, sqlite_url

CODE = "def solve(x):\n    return sorted(x)\n" * 20  # ~700 bytes, a small real program


def _write(url: str, n: int, start, out) -> None:
    """One writer: a run of its own, then n programs, one transaction each."""
    archive = Archive(url)
    run = archive.create_run("bench", None, {"bench": True}, 0)
    start.wait()
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        archive.record(Program(run_id=run.id, iteration=i, code=CODE, code_hash=f"{i:064x}",
                               proposer="bench", status="ok", score=float(i),
                               metrics={"score": float(i), "set": [1, 2, 3]}),
                       run_updates={"wall_seconds": float(i)})
    out.put(time.perf_counter() - t0)
    archive.close()


def measure(url: str, n: int, writers: int) -> dict:
    Archive(url).close()  # schema first, so no writer times the migration
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(writers), ctx.Queue()
    procs = [ctx.Process(target=_write, args=(url, n, start, out)) for _ in range(writers)]
    for p in procs:
        p.start()
    times = [out.get(timeout=900) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    wall = max(times)
    return {"writers": writers, "programs": n * writers, "seconds": round(wall, 3),
            "programs_per_s": round(n * writers / wall, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", type=int, default=400, help="per writer (default 400)")
    ap.add_argument("--pg-url", help="an empty PostgreSQL database (default: start a server)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="archive-bench-"))
    server = None
    try:
        pg_urls = []
        if args.pg_url:
            pg_urls = [args.pg_url]  # the user's database: both measurements share it
        else:
            from tests.pgserver import PASSWORD, start_server

            # its own temp dir: the server runs as `nobody` when we are root, and must reach it
            server_root = Path(tempfile.mkdtemp(prefix="archive-bench-pg-"))
            server = start_server(server_root)
            os.environ["PGPASSWORD"] = PASSWORD
            pg_urls = [server.create_database("bench1"), server.create_database("bench2")]
        results = {
            "programs_per_writer": args.programs,
            "sqlite": [measure(sqlite_url(tmp / f"w{w}.sqlite"), args.programs, w)
                       for w in (1, 2)],
            "postgresql": [measure(pg_urls[min(i, len(pg_urls) - 1)], args.programs, w)
                           for i, w in enumerate((1, 2))],
            "cores": os.cpu_count(),
        }
        print(json.dumps(results, indent=2))
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
