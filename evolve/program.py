"""Candidate programs as text: EVOLVE-BLOCK markers, normalized hashing, loading into a module."""

from __future__ import annotations

import ast
import hashlib
import io
import re
import tokenize
import types
from dataclasses import dataclass
from typing import Any, cast

from evolve import compiled
from evolve.problem import Candidate

BLOCK_START = "# EVOLVE-BLOCK-START"
BLOCK_END = "# EVOLVE-BLOCK-END"

# Failure kinds stored per program (DESIGN.md contract). `compile_fallback` is not an error.
FAILURE_KINDS = (
    "syntax_error",
    "missing_entry",
    "runtime_error",
    "timeout",
    "memory_limit",
    "invalid_output",
    "input_mutation",
    "diff_failed",
    "llm_error",
    "engine_error",  # the engine's own fault (traceback stored), not the candidate's
    "problem_error",  # the problem's trusted code failed
)
# A proposal step that ran fine and found nothing better (a CMA-ES tuning step that did not beat
# its parent). Not a failure: no broken program to fix, a zero reward for its operator.
NO_GAIN = "no_gain"
# Every status a program row may hold.
STATUSES = ("ok", *FAILURE_KINDS, NO_GAIN)
# Rows that carry their parent's (valid) code because no child was made: nothing there to fix.
NO_CHILD = ("diff_failed", "llm_error", NO_GAIN)


def is_failure(status: str | None) -> bool:
    """Whether a program row with `status` failed (not ok, not a step that only found no gain)."""
    return status is not None and status not in ("ok", NO_GAIN)


class CandidateError(Exception):
    """Loading or running a candidate failed; `kind` is one of FAILURE_KINDS."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Blocks:
    """A program cut into the fixed prefix, the evolvable block and the fixed suffix."""

    prefix: str
    block: str
    suffix: str

    def join(self, block: str | None = None) -> str:
        body = self.block if block is None else block
        if body and not body.endswith("\n"):
            body += "\n"
        return self.prefix + body + self.suffix


def split_blocks(code: str) -> Blocks:
    """Split at the markers; a program without markers is one big evolvable block."""
    starts = [m.end() for m in re.finditer(r"^[ \t]*# EVOLVE-BLOCK-START[^\n]*\n?", code, re.M)]
    ends = [m.start() for m in re.finditer(r"^[ \t]*# EVOLVE-BLOCK-END", code, re.M)]
    if not starts and not ends:
        return Blocks("", code, "")
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise CandidateError(
            "syntax_error",
            f"EVOLVE-BLOCK markers broken: {len(starts)} START and {len(ends)} END markers",
        )
    return Blocks(code[: starts[0]], code[starts[0] : ends[0]], code[ends[0] :])


def normalize(code: str) -> str:
    """Code with comments, docstrings-as-statements and layout removed (for hashing).

    Total: a program too deep for the AST (RecursionError in parse or unparse, e.g. 1000 chained
    additions), too big (MemoryError) or with null bytes (ValueError) falls back to tokens.
    """
    try:
        return _normalize_ast(code)
    except SyntaxError:
        return _strip_tokens(code)
    except (RecursionError, MemoryError, ValueError):
        return _strip_tokens(code)


def _normalize_ast(code: str) -> str:
    tree = ast.parse(code)
    for node in ast.walk(tree):  # ast.walk is iterative: safe on deep trees
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                # any node with a statement-list `body` (module, def, class, for, if, ...)
                cast(Any, node).body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def _strip_tokens(code: str) -> str:
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
                out.append(tok.string)
    except (tokenize.TokenError, SyntaxError, RecursionError, MemoryError, ValueError):
        return " ".join(code.split())
    return " ".join(out)


def code_hash(code: str) -> str:
    """Hash of the normalized code: identical programs up to comments/layout share it.

    Never raises, whatever the string (lone surrogates are hashed as they are).
    """
    return hashlib.sha256(normalize(code).encode("utf-8", "surrogatepass")).hexdigest()


def check_syntax(code: str) -> None:
    """Raise CandidateError(syntax_error) with line and message when the code does not parse."""
    split_blocks(code)
    try:
        compile(code, "<candidate>", "exec", dont_inherit=True)
    except SyntaxError as e:
        raise CandidateError("syntax_error", f"line {e.lineno}: {e.msg}") from None
    except ValueError as e:  # e.g. null bytes
        raise CandidateError("syntax_error", str(e)) from None


def load_candidate(code: str, entry: str, jit: bool) -> Candidate:
    """Execute the module text and fetch `entry`; compile it with numba where asked.

    Compilation is lazy in numba, so `jit` is wrapped: the first call that fails to type or
    lower falls back to Python for good and records why (`compile_fallback`).
    """
    check_syntax(code)
    module = types.ModuleType("candidate")
    module.__dict__["__name__"] = "candidate"
    try:
        exec(compile(code, "<candidate>", "exec", dont_inherit=True), module.__dict__)
    except MemoryError:
        raise
    except BaseException as e:  # noqa: BLE001 - SystemExit and friends are candidate errors too
        raise CandidateError("runtime_error", f"at import: {type(e).__name__}: {e}") from None
    # numba functions unchanged from a trusted seed: the seed's compiled dispatchers (no compile)
    compiled.adopt(code, module.__dict__)
    fn = module.__dict__.get(entry)
    if fn is None:
        raise CandidateError("missing_entry", f"the module defines no '{entry}'")
    if not callable(fn):
        raise CandidateError("missing_entry", f"'{entry}' is a {type(fn).__name__}, not a function")
    cand = Candidate(module=module, py=getattr(fn, "py_func", fn))
    if jit:
        cand.jit = _LazyJit(cand, code, entry)
    return cand


class _LazyJit:
    """Calls the numba-compiled entry; on a compile error switches the candidate to Python."""

    def __init__(self, cand: Candidate, code: str, entry: str):
        import numba

        self._cand = cand
        self.dispatcher = numba.njit(cache=False)(cand.py)
        if cand.module.__dict__.get(entry) is cand.py:  # a plain function: maybe the seed's
            self.dispatcher = compiled.entry(code, entry, cand.module.__dict__, self.dispatcher)

    def __call__(self, *args):
        try:
            return self.dispatcher(*args)
        except Exception as e:  # numba raises several unrelated error types
            if self.dispatcher.signatures:  # it compiled: a real runtime error of the candidate
                raise
            first = str(e).strip().splitlines()
            self._cand.fallback_reason = (
                f"{type(e).__name__}: {first[0] if first else ''}")[:300]
            self._cand.jit = None
            return self._cand.py(*args)
