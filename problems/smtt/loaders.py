"""Instance files: JSONL (DiscoverHeuristics style), OR-Library wt*.txt (+ wtopt / wtbest), and
one-job-per-line text files ("p d" or "p d w", the SDT_*.txt files of Shang, T'kindt & Della Croce).

Due dates may be negative (the published n=20 sets have some). Processing times must be positive
and finite, weights positive. Every error is one line naming the file, the line and the field.
Files ending in .gz are read transparently.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from evolve.problem import ProblemError

from .instances import Instances, from_arrays

_ORLIB = re.compile(r"^wt(\d+)$")
# wtinfo.txt: these wtopt values are best known, not proven (1-based instance numbers).
_ORLIB_UNPROVEN = {40: {19}, 50: {11, 12, 14, 19, 36, 44, 66, 87, 88, 111}}


def _open_text(path: Path):
    try:
        if path.name.endswith(".gz"):
            return gzip.open(path, "rt", encoding="utf-8")
        return open(path, encoding="utf-8")
    except OSError as e:
        raise ProblemError(f"{path}: cannot read ({e.strerror or e})") from None


def _stem(path: Path) -> str:
    name = path.name.removesuffix(".gz")
    return name.rsplit(".", 1)[0] if "." in name else name


def _check_values(values, where: str, field: str, positive: bool) -> np.ndarray:
    """Numbers -> float64 array; NaN/inf, non-numbers and (if `positive`) values <= 0 rejected."""
    if not isinstance(values, list) or not values:
        raise ProblemError(f"{where}: field '{field}' must be a non-empty list of numbers")
    out = np.empty(len(values), dtype=np.float64)
    for k, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ProblemError(f"{where}: field '{field}[{k}]' is {v!r}, not a number")
        if not math.isfinite(v):
            raise ProblemError(f"{where}: field '{field}[{k}]' is {v}, not a finite number")
        if positive and v <= 0:
            raise ProblemError(f"{where}: field '{field}[{k}]' = {v} must be > 0")
        out[k] = v
    return out


def _opt_value(row: dict, where: str):
    for key in ("opt", "ref"):
        v = row.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ProblemError(f"{where}: field '{key}' = {v!r} must be a finite number >= 0")
        return float(v), key
    return None, None


def load_jsonl(path: str | Path, weighted: bool) -> Instances:
    """One instance per line: {"p": [...], "d": [...], optional "w", "opt"/"ref", "rdd", "tf"}.

    A reference value is kept only if it measures the objective in use: a file with weights has
    weighted optima, which say nothing about the unweighted problem (and vice versa).
    """
    path = Path(path)
    rows = []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ProblemError(f"{where}: invalid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise ProblemError(f"{where}: expected a JSON object, got {type(row).__name__}")
            for key in ("p", "d"):
                if key not in row:
                    raise ProblemError(f"{where}: missing field '{key}'")
            p = _check_values(row["p"], where, "p", positive=True)
            d = _check_values(row["d"], where, "d", positive=False)
            if d.size != p.size:
                raise ProblemError(f"{where}: field 'd' has {d.size} values but 'p' has {p.size}")
            if "n" in row and row["n"] != p.size:
                raise ProblemError(f"{where}: field 'n' = {row['n']!r} but 'p' has {p.size} values")
            w = None
            if row.get("w") is not None:
                w = _check_values(row["w"], where, "w", positive=True)
                if w.size != p.size:
                    raise ProblemError(f"{where}: field 'w' has {w.size} values but 'p' has "
                                       f"{p.size}")
            ref, ref_key = _opt_value(row, where)
            file_weighted = w is not None and bool(np.any(w != 1.0))
            if file_weighted and not weighted:
                ref = None  # a weighted optimum is no reference for the unweighted problem
            rec = {"p": p, "d": d, "w": w if weighted else None, "ref": ref}
            if ref is not None:
                rec["ref_exact"] = bool(row.get("ref_exact", ref_key == "opt"))
            for key in ("rdd", "tf"):
                v = row.get(key)
                if v is not None:
                    if (isinstance(v, bool) or not isinstance(v, (int, float))
                            or not math.isfinite(v)):
                        raise ProblemError(f"{where}: field '{key}' = {v!r} must be a number")
                    rec[key] = float(v)
            rows.append(rec)
    if not rows:
        raise ProblemError(f"{path}: no instances")
    return from_arrays(rows, weighted, _stem(path))


def _tokens(path: Path) -> list[tuple[float, int]]:
    """Whitespace-separated numbers with their line numbers."""
    out = []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            for tok in line.split():
                try:
                    v = float(tok)
                except ValueError:
                    raise ProblemError(f"{path}:{lineno}: '{tok}' is not a number") from None
                if not math.isfinite(v):
                    raise ProblemError(f"{path}:{lineno}: '{tok}' is not a finite number")
                out.append((v, lineno))
    return out


def _orlib_refs(path: Path, n: int, count: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(values, proven) from wtopt<n>.txt, else wtbest<n>b / wtbest<n>a / wtbest<n> .txt beside."""
    suffix = ".gz" if path.name.endswith(".gz") else ""
    for name in (f"wtopt{n}", f"wtbest{n}b", f"wtbest{n}a", f"wtbest{n}"):
        cand = path.with_name(f"{name}.txt{suffix}")
        if cand.exists():
            vals = _tokens(cand)
            if len(vals) != count:
                raise ProblemError(f"{cand}: {len(vals)} values for {count} instances in "
                                   f"{path.name}")
            for v, lineno in vals:
                if v < 0:
                    raise ProblemError(f"{cand}:{lineno}: optimum {v} must be >= 0")
            proven = np.array([name.startswith("wtopt") and i + 1 not in _ORLIB_UNPROVEN.get(n, ())
                               for i in range(count)])
            return np.array([v for v, _ in vals]), proven
    return None


def load_orlib(path: str | Path, weighted: bool) -> Instances:
    """OR-Library wt<n>.txt: per instance n processing times, n weights, n due dates.

    Its optima (wtopt<n>.txt / wtbest<n>*.txt beside it) are weighted: used only when `weighted`.
    """
    path = Path(path)
    name = _ORLIB.match(_stem(path))
    if name is None:
        raise ProblemError(f"{path}: an OR-Library file is named wt<n>.txt")
    n = int(name.group(1))
    toks = _tokens(path)
    if n <= 0 or len(toks) % (3 * n):
        at = toks[len(toks) - len(toks) % (3 * n)][1] if toks and n > 0 else 1
        raise ProblemError(f"{path}:{at}: {len(toks)} numbers are not whole instances of "
                           f"3 x {n} (processing times, weights, due dates)")
    count = len(toks) // (3 * n)
    refs = _orlib_refs(path, n, count) if weighted else None
    rows = []
    for i in range(count):
        chunk = toks[3 * n * i: 3 * n * (i + 1)]
        for field, part in (("p", chunk[:n]), ("w", chunk[n:2 * n])):
            for k, (v, lineno) in enumerate(part):
                if v <= 0:
                    raise ProblemError(f"{path}:{lineno}: instance {i + 1} field '{field}[{k}]' "
                                       f"= {v:g} must be > 0")
        rec: dict[str, Any] = {"p": [v for v, _ in chunk[:n]], "d": [v for v, _ in chunk[2 * n:]],
               "w": [v for v, _ in chunk[n:2 * n]] if weighted else None}
        if refs is not None:
            rec["ref"] = refs[0][i]
            rec["ref_exact"] = bool(refs[1][i])
        rows.append(rec)
    return from_arrays(rows, weighted, _stem(path))


def load_jobs_txt(path: str | Path, weighted: bool) -> Instances:
    """One instance: a line per job with 'p d' or 'p d w' (all lines alike)."""
    path = Path(path)
    rows, width = [], None
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if width is None:
                width = len(parts)
                if width not in (2, 3):
                    raise ProblemError(f"{path}:{lineno}: expected 'p d' or 'p d w', got "
                                       f"{width} fields")
            elif len(parts) != width:
                raise ProblemError(f"{path}:{lineno}: {len(parts)} fields, earlier lines have "
                                   f"{width}")
            vals = []
            for field, tok in zip("pdw", parts):
                try:
                    v = float(tok)
                except ValueError:
                    raise ProblemError(
                        f"{path}:{lineno}: field '{field}' = '{tok}' is not a number") from None
                if not math.isfinite(v):
                    raise ProblemError(f"{path}:{lineno}: field '{field}' = '{tok}' is not finite")
                if field != "d" and v <= 0:
                    raise ProblemError(f"{path}:{lineno}: field '{field}' = {tok} must be > 0")
                vals.append(v)
            rows.append(vals)
    if not rows:
        raise ProblemError(f"{path}: no jobs")
    a = np.array(rows)
    rec = {"p": a[:, 0], "d": a[:, 1], "w": a[:, 2] if (weighted and width == 3) else None}
    return from_arrays([rec], weighted, _stem(path))


def load_file(path: str | Path, weighted: bool) -> Instances:
    """Dispatch on the file name: *.jsonl[.gz], wt<n>.txt[.gz], other *.txt[.gz]."""
    path = Path(path)
    if not path.is_file():
        raise ProblemError(f"{path}: no such file")
    stem = _stem(path)
    name = path.name.removesuffix(".gz")
    if name.endswith(".jsonl") or name.endswith(".json"):
        return load_jsonl(path, weighted)
    if _ORLIB.match(stem):
        return load_orlib(path, weighted)
    if name.endswith(".txt"):
        return load_jobs_txt(path, weighted)
    raise ProblemError(f"{path}: unknown instance format (expected .jsonl, wt<n>.txt or a "
                       f"'p d [w]' per line .txt, optionally .gz)")
