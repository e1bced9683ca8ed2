"""A library of typed building blocks: sub-expressions mined from the problem's seeds and elites.

A block is a scalar value expression of some program of the same problem (a seed under
seeds/<problem>/, or one of the archive's best programs), kept with the names it reads so that
it is offered only at sites where those names are bound. Nothing here runs a program: blocks are
parsed and re-emitted with ast.unparse (archive programs are untrusted text).
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from evolve.proposers.builtin.astnames import BUILTINS, free_names, is_literal
from evolve.proposers.builtin.kinds import SCALARS
from evolve.proposers.builtin.scope import BlockFacts, Site
from evolve.proposers.builtin.source import BlockSource

log = logging.getLogger(__name__)

MAX_NODES = 24  # bigger sub-expressions are whole rules, not building blocks
SEED_FILES = 32  # a seeds folder is read up to this many programs


@dataclass(frozen=True)
class Block:
    """A scalar sub-expression of some program: its text, the names it reads, where it came from."""

    text: str
    names: frozenset[str]
    origin: str


def _worth(node: ast.expr) -> bool:
    """Leaves (names, array reads, literals) are terminals the expression grower has already;
    huge trees are not blocks."""
    if is_literal(node) or isinstance(node, (ast.Name, ast.Subscript, ast.Attribute)):
        return False
    return sum(1 for _ in ast.walk(node)) <= MAX_NODES


def mine(origin: str, facts: BlockFacts) -> list[Block]:
    """The scalar value expressions of one analysed block, as building blocks."""
    out = []
    for s in facts.values:
        if s.kind in SCALARS and _worth(s.node):
            out.append(Block(ast.unparse(s.node), frozenset(free_names(s.node)), origin))
    return out


def seed_codes(problem: str) -> list[tuple[str, str]]:
    """(origin, code) of the problem's packaged seeds (trusted files; read, never run here)."""
    try:
        root = Path(str(resources.files("evolve.seeds"))) / problem
    except (ModuleNotFoundError, TypeError):
        return []
    if not root.is_dir():
        return []
    out = []
    for f in sorted(root.glob("*.py"))[:SEED_FILES]:
        try:
            out.append((f"seed:{f.stem}", f.read_text()))
        except (OSError, UnicodeDecodeError):
            continue
    return out


class BlockLibrary:
    """Deduplicated blocks, in the order they were added (deterministic for the same sources)."""

    def __init__(self, blocks: Iterable[Block] = ()):
        self.blocks: list[Block] = []
        self._texts: set[str] = set()
        self.add(blocks)

    def add(self, blocks: Iterable[Block]) -> None:
        for b in blocks:
            if b.text not in self._texts:
                self._texts.add(b.text)
                self.blocks.append(b)

    @classmethod
    def from_codes(cls, codes: Iterable[tuple[str, str]],
                   parse: Callable[[str], tuple[BlockSource, BlockFacts] | None]) -> BlockLibrary:
        lib = cls()
        for origin, code in codes:
            parsed = parse(code)
            if parsed is not None:
                lib.add(mine(origin, parsed[1]))
        return lib

    def fitting(self, site: Site, facts: BlockFacts) -> list[Block]:
        """Blocks that only read names bound at the site and differ from the site's own text."""
        if site.kind not in SCALARS:
            return []
        own = ast.unparse(site.node)
        ok = site.avail | facts.globals | BUILTINS
        return [b for b in self.blocks if b.names <= ok and b.text != own]

    def __len__(self) -> int:
        return len(self.blocks)
