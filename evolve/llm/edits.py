"""Turning a model's reply into a child program: SEARCH/REPLACE edits or a rewrite of the block.

Only the EVOLVE-BLOCK may change. Matching tolerates what models commonly get wrong (trailing
spaces, shifted indentation, missing or extra blank lines, code fences around the blocks); every
refusal raises DiffError with a reason written for the model to read in its next prompt.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from evolve.program import BLOCK_END, BLOCK_START, Blocks, CandidateError, code_hash, split_blocks

_SEARCH = re.compile(r"^[ \t]*<{5,9}[ \t]*SEARCH\b.*$")
_DIVIDER = re.compile(r"^[ \t]*={5,9}[ \t]*$")
_REPLACE = re.compile(r"^[ \t]*>{5,9}[ \t]*REPLACE\b.*$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")


class DiffError(Exception):
    """The reply could not be turned into a child (stored as `diff_failed` with this reason)."""


@dataclass
class Edit:
    """One SEARCH/REPLACE pair as the model wrote it (fences and edge blank lines removed)."""

    search: list[str]
    replace: list[str]


@dataclass
class EditResult:
    """The child program and how it was made from the reply."""

    code: str
    how: str  # diff | rewrite
    n_edits: int = 0
    notes: list[str] = field(default_factory=list)  # tolerated drift, shown in logs


def _trim(lines: list[str]) -> list[str]:
    """Drop code-fence lines at the edges and blank lines around the text."""
    while lines and (not lines[0].strip() or _FENCE.match(lines[0])):
        lines = lines[1:]
    while lines and (not lines[-1].strip() or _FENCE.match(lines[-1])):
        lines = lines[:-1]
    return lines


def parse_edits(reply: str) -> list[Edit]:
    """All SEARCH/REPLACE blocks of the reply, in order; an unfinished block raises DiffError."""
    edits: list[Edit] = []
    state = "out"
    search: list[str] = []
    replace: list[str] = []
    for line in reply.splitlines():
        if state == "out":
            if _SEARCH.match(line):
                state, search, replace = "search", [], []
        elif state == "search":
            if _DIVIDER.match(line):
                state = "replace"
            elif _REPLACE.match(line):
                raise DiffError(f"SEARCH/REPLACE block {len(edits) + 1} has no ======= line "
                                "between its SEARCH and REPLACE parts")
            elif _SEARCH.match(line):
                raise DiffError(f"SEARCH/REPLACE block {len(edits) + 1} is not closed before the "
                                "next <<<<<<< SEARCH")
            else:
                search.append(line)
        elif _REPLACE.match(line):
            edits.append(Edit(_trim(search), _trim(replace)))
            state = "out"
        else:
            replace.append(line)
    if state != "out":
        raise DiffError(f"SEARCH/REPLACE block {len(edits) + 1} is incomplete: no >>>>>>> REPLACE "
                        "line (the reply was cut off?)")
    return edits


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _find(hay: list[str], needle: list[str], key: Callable[[str], str]) -> list[tuple[int, int]]:
    """(first, last) hay line indices of each match of needle's non-blank lines, blank lines
    ignored."""
    want = [key(x) for x in needle if x.strip()]
    rows = [(i, key(x)) for i, x in enumerate(hay) if x.strip()]
    out = []
    for s in range(len(rows) - len(want) + 1):
        if all(rows[s + j][1] == w for j, w in enumerate(want)):
            out.append((rows[s][0], rows[s + len(want) - 1][0]))
    return out


def _locate(lines: list[str], search: list[str]) -> tuple[int, int, int, str] | None:
    """Where `search` sits in `lines`: (first, last, indent shift, how) or None."""
    exact = _find(lines, search, str.rstrip)
    if exact:
        return exact[0][0], exact[0][1], 0, "exact" if len(exact) == 1 else f"first of {len(exact)}"
    loose = _find(lines, search, str.strip)
    if loose:
        first, last = loose[0]
        ref = next(x for x in search if x.strip())
        shift = len(_indent(lines[first])) - len(_indent(ref))
        return first, last, shift, f"indentation shifted by {shift}"
    return None


def _reindent(lines: list[str], shift: int, unit: str) -> list[str]:
    if shift > 0:
        return [unit * shift + x if x.strip() else x for x in lines]
    if shift < 0:
        out = []
        for x in lines:
            cut = min(-shift, len(_indent(x)))
            out.append(x[cut:])
        return out
    return lines


def _miss_reason(lines: list[str], search: list[str], n: int, offset: int) -> str:
    """Why edit n did not match: the longest matching prefix and the first differing line."""
    want = [x.strip() for x in search if x.strip()]
    rows = [(i, x.strip()) for i, x in enumerate(lines) if x.strip()]
    best, at = 0, 0  # `at` is read only once best > 0
    for s in range(len(rows)):
        k = 0
        while k < len(want) and s + k < len(rows) and rows[s + k][1] == want[k]:
            k += 1
        if k > best:
            best, at = k, s
    if best == 0:
        close = difflib.get_close_matches(want[0], [r[1] for r in rows], n=1, cutoff=0.6)
        hint = f"; the closest line in the block is {close[0]!r}" if close else ""
        return (f"edit {n}: SEARCH does not match the EVOLVE-BLOCK: its first line {want[0]!r} "
                f"is not in it{hint}")
    got = rows[at + best][1] if at + best < len(rows) else "<end of block>"
    line_no = rows[at][0] + 1 + offset
    return (f"edit {n}: SEARCH matches {best} line(s) from program line {line_no}, then differs: "
            f"SEARCH has {want[best]!r} but the program has {got!r}")


def _check_markers(code: str, parent: Blocks, n: int) -> None:
    try:
        blocks = split_blocks(code)
    except CandidateError as e:
        raise DiffError(f"edit {n} breaks the program: {e.message}") from None
    if blocks.prefix != parent.prefix or blocks.suffix != parent.suffix:
        raise DiffError(f"edit {n} changes code outside the EVOLVE-BLOCK; "
                        "only the block may change")


def apply_edits(parent: str, edits: list[Edit]) -> EditResult:
    """Apply the edits in order inside the parent's EVOLVE-BLOCK; markers are checked after each."""
    blocks = split_blocks(parent)
    offset = blocks.prefix.count("\n")
    fixed = (blocks.prefix + "\n" + blocks.suffix).split("\n")
    lines = blocks.block.split("\n")
    notes = []
    for n, e in enumerate(edits, 1):
        if any(BLOCK_START in x or BLOCK_END in x for x in e.search + e.replace):
            raise DiffError(f"edit {n} touches the EVOLVE-BLOCK markers; edit only the code "
                            "between them")
        if not e.search:
            raise DiffError(f"edit {n} has an empty SEARCH part: copy the exact lines to be "
                            "replaced")
        where = _locate(lines, e.search)
        if where is None:
            if (blocks.prefix or blocks.suffix) and _locate(fixed, e.search) is not None:
                raise DiffError(f"edit {n}: SEARCH matches code outside the EVOLVE-BLOCK, which is "
                                "fixed; only the code between the markers may change")
            raise DiffError(_miss_reason(lines, e.search, n, offset))
        first, last, shift, how = where
        if how != "exact":
            notes.append(f"edit {n}: {how}")
        unit = "\t" if _indent(lines[first]).startswith("\t") else " "
        lines = lines[:first] + _reindent(e.replace, shift, unit) + lines[last + 1:]
        _check_markers(blocks.join("\n".join(lines)), blocks, n)
    return EditResult(blocks.join("\n".join(lines)), "diff", len(edits), notes)


def _fences(reply: str) -> tuple[list[str], bool]:
    """Fenced code blocks of the reply and whether a fence was left open."""
    out: list[str] = []
    cur: list[str] | None = None
    for line in reply.splitlines():
        if _FENCE.match(line):
            if cur is None:
                cur = []
            else:
                out.append("\n".join(cur) + "\n")
                cur = None
        elif cur is not None:
            cur.append(line)
    return out, cur is not None


def _same_fixed(a: str, b: str) -> bool:
    norm = lambda s: [x.rstrip() for x in s.splitlines() if x.strip()]  # noqa: E731
    return norm(a) == norm(b)


def extract_rewrite(reply: str, parent: str) -> EditResult:
    """The new EVOLVE-BLOCK from the reply's fenced code (a whole program or the block alone)."""
    fences, open_fence = _fences(reply)
    if not fences:
        if open_fence:
            raise DiffError("the code fence is not closed (the reply was cut off?)")
        raise DiffError("the reply has neither SEARCH/REPLACE blocks nor a fenced code block")
    marked = [f for f in fences if BLOCK_START in f or BLOCK_END in f]
    code = marked[-1] if marked else max(fences, key=len)
    blocks = split_blocks(parent)
    notes = []
    if marked:
        try:
            new = split_blocks(code)
        except CandidateError as e:
            raise DiffError(f"the rewritten program has {e.message}") from None
        if not (_same_fixed(new.prefix, blocks.prefix) and _same_fixed(new.suffix, blocks.suffix)):
            raise DiffError("the rewrite changes code outside the EVOLVE-BLOCK, which is fixed; "
                            "only the code between the markers may change")
        body = new.block
    else:
        _check_complete(code, blocks.block)
        body = code
        notes.append("fence without markers taken as the whole block")
    if not body.strip():
        raise DiffError("the rewritten EVOLVE-BLOCK is empty")
    body = _match_indent(body, blocks.block)
    child = blocks.join(body)
    _check_markers(child, blocks, 1)
    return EditResult(child, "rewrite", 0, notes)


_DEF = re.compile(r"^(?:async[ \t]+)?def[ \t]+(\w+)", re.M)


def _check_complete(code: str, old_block: str) -> None:
    """An unmarked fence replaces the whole block: refuse a fragment that drops every function.

    When the parent's block defines functions at its base level, the new code must define at
    least one of them; a snippet of a function body (a common small-model reply) fails here.
    """
    base = min((len(_indent(x)) for x in old_block.splitlines() if x.strip()), default=0)
    old = {m.group(1) for m in _DEF.finditer("\n".join(x[base:] for x in old_block.splitlines()))}
    new_base = min((len(_indent(x)) for x in code.splitlines() if x.strip()), default=0)
    new = {m.group(1) for m in _DEF.finditer("\n".join(x[new_base:] for x in code.splitlines()))}
    if old and not old & new:
        raise DiffError(f"the fenced code defines none of {', '.join(sorted(old))}: it looks like "
                        "a fragment; give SEARCH/REPLACE edits or the whole program with its "
                        "markers")


def _match_indent(body: str, old: str) -> str:
    """Shift a rewritten block to the parent block's base indentation (blocks inside a def)."""
    def base(text: str) -> int:
        ind = [len(_indent(x)) for x in text.splitlines() if x.strip()]
        return min(ind) if ind else 0

    shift = base(old) - base(body)
    return "\n".join(_reindent(body.split("\n"), shift, " ")) if shift else body


def child_from_reply(reply: str, parent: str) -> EditResult:
    """SEARCH/REPLACE edits when the reply has any, else a rewrite from fenced code.

    Raises DiffError when nothing usable is found or the child equals the parent.
    """
    edits = parse_edits(reply)
    result = apply_edits(parent, edits) if edits else extract_rewrite(reply, parent)
    if code_hash(result.code) == code_hash(parent):
        raise DiffError("the reply leaves the program unchanged (up to comments and layout)")
    return result
