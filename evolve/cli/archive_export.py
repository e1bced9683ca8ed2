"""`evolve-archive export`: a program as a standalone module with a provenance header.

The stored code already is a complete module (the fixed parts around the EVOLVE block included),
so export only prepends comments. No `__main__` demo is added: calling the entry needs problem
instances, which only the engine knows how to build, and a generic demo would have to guess.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evolve.archive import Program
from evolve.cli.common import CliError, fmt_num
from evolve.cli.runref import RunHandle


def _problem_contract(h: RunHandle, config_dirs: list[str]) -> tuple[str, str, bool] | None:
    """(entry, signature, jit_entry) of the run's problem class, when it can be imported. The
    target comes from the archive, so it is imported only when registered (evolve.trust):
    otherwise a CliError, before anything is written."""
    config = h.run.config if isinstance(h.run.config, dict) else {}
    problem_cfg = config.get("problem") or {}
    if not isinstance(problem_cfg, dict) or not problem_cfg.get("target"):
        return None
    from evolve.config import ConfigError
    from evolve.trust import trusted_problem_cfg

    try:
        target = trusted_problem_cfg(problem_cfg, config_dirs, source=h.folder)["target"]
    except ConfigError as e:
        raise CliError(str(e)) from None
    try:
        from evolve.problem import load_problem_class

        cls = load_problem_class(str(target))
    except Exception:  # noqa: BLE001 - the header just gets shorter on another machine
        return None
    return cls.entry, cls.signature, bool(cls.jit_entry)


def module_checks(code: str, entry: str | None) -> list[str]:
    """Reasons the module would not stand alone: it imports the engine, or lacks the entry."""
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        return [f"the code does not parse (line {e.lineno}: {e.msg})"]
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        if any(n == "evolve" or n.startswith("evolve.") for n in names):
            problems.append(f"line {node.lineno} imports the engine ({', '.join(names)})")
    if entry:
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        for n in tree.body:
            if isinstance(n, ast.Assign):
                defined |= {t.id for t in n.targets if isinstance(t, ast.Name)}
        if entry not in defined:
            problems.append(f"no top-level definition of the entry '{entry}'")
    return problems


def header(h: RunHandle, p: Program, contract: tuple[str, str, bool] | None) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    made = " / ".join(x for x in (p.proposer, p.operator, p.model) if x)
    lines = [
        f"Exported by evolve-archive on {when}; runs without the engine.",
        f"Run: {h.folder} (run {h.run.id}, problem {h.run.problem}, status {h.run.status}).",
        f"Program #{p.id}: iteration {p.iteration}, island {p.island}, generation {p.generation}, "
        f"made by {made}, parent #{p.parent_id if p.parent_id is not None else '-'}.",
        f"Status: {p.status}; score {fmt_num(p.score, 6)} (higher is better; "
        f"{p.stage or 'full'} evaluation during the run).",
    ]
    v = h.archive.validations(h.run.id).get(p.id)
    if v is not None:
        lines.append(f"Validation: {v.status}; score {fmt_num(v.score, 6)} on the validation "
                     "split (what picks the run's best).")
    if p.metrics:
        lines.append("Metrics: "
                     + ", ".join(f"{k}={fmt_num(v, 6)}" for k, v in sorted(p.metrics.items())))
    if p.code_hash:
        lines.append(f"Normalized-code sha256: {p.code_hash}")
    if contract:
        entry, signature, jit = contract
        lines.append(f"Entry: {signature or entry}")
        if jit:
            lines.append(
                f"The engine calls numba.njit({entry}) for speed"
                + (f"; this one fell back to Python ({p.compile_fallback})." if p.compile_fallback
                   else "; do the same where it matters.")
            )
    return "".join(f"# {line}\n" for line in lines) + "\n"


def _insert_header(code: str, head: str) -> str:
    """Prepend `head`, keeping a shebang or encoding line first where Python needs it."""
    lines = code.splitlines(keepends=True)
    keep = 0
    while keep < min(2, len(lines)) and (
        lines[keep].startswith("#!") or ("coding" in lines[keep] and lines[keep].startswith("#"))
    ):
        keep += 1
    return "".join(lines[:keep]) + head + "".join(lines[keep:])


def export(h: RunHandle, program_id: str | int | None, out: Path,
           config_dirs: Sequence[str] = ()) -> dict[str, Any]:
    """Write the program (`program_id`, default the best) to `out`; returns what was written.
    `config_dirs` are the --config-dir folders the user passed (trusted problem configs)."""
    p = h.program_or_best(program_id)
    contract = _problem_contract(h, list(config_dirs))
    text = _insert_header(p.code, header(h, p, contract))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    warnings = module_checks(p.code, contract[0] if contract else None)
    if p.status != "ok":
        warnings.insert(0, f"program #{p.id} failed ({p.status}): {p.error or ''}".strip())
    v = h.archive.validations(h.run.id).get(p.id)
    return {"path": str(out), "program_id": p.id, "score": p.score, "status": p.status,
            "val_score": v.score if v is not None else None,
            "entry": contract[0] if contract else None, "warnings": warnings}
