"""Near-duplicate filter: token-shingle similarity of EVOLVE-BLOCKs, no model call needed.

Code is reduced to its Python tokens (comments and layout dropped) and compared as sets of token
3-grams (Jaccard). A child whose block is above the threshold to any block in the history is
skipped before evaluation.
"""

from __future__ import annotations

import io
import tokenize

from evolve.program import CandidateError, split_blocks
from evolve.proposers.base import ProgramView

_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
         tokenize.ENDMARKER}


def code_tokens(code: str) -> list[str]:
    """The Python tokens of `code` without comments and layout (whitespace split on bad code)."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type not in _SKIP:
                out.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code.split()
    return out


def shingles(code: str, k: int = 3) -> frozenset:
    try:
        block = split_blocks(code).block
    except CandidateError:
        block = code
    toks = code_tokens(block)
    if len(toks) < k:
        return frozenset([tuple(toks)])
    return frozenset(tuple(toks[i:i + k]) for i in range(len(toks) - k + 1))


def similarity(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class NoveltyFilter:
    """Finds the most similar earlier program; caches shingles by program id."""

    def __init__(self, threshold: float, cache_size: int = 20_000):
        self.threshold = threshold
        self.cache_size = cache_size
        self._cache: dict[int, frozenset] = {}

    def _of(self, view: ProgramView) -> frozenset:
        sh = self._cache.get(view.id)
        if sh is None:
            if len(self._cache) >= self.cache_size:
                self._cache.clear()  # rare; recomputing is cheap compared with a model call
            sh = self._cache[view.id] = shingles(view.code)
        return sh

    def nearest(self, code: str, history: list[ProgramView]) -> tuple[float, int | None]:
        """(highest similarity, program id) over the history."""
        mine = shingles(code)
        best, who = 0.0, None
        for v in history:
            s = similarity(mine, self._of(v))
            if s > best:
                best, who = s, v.id
        return best, who

    def reject_reason(self, code: str, history: list[ProgramView]) -> str | None:
        sim, who = self.nearest(code, history)
        if who is not None and sim >= self.threshold:
            return (f"novelty filter: the child is {sim:.1%} similar to program {who} "
                    f"(threshold {self.threshold:.0%}); propose a more distinct change")
        return None
