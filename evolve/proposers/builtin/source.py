"""The EVOLVE-BLOCK of a program as parsed source that text edits can change."""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from typing import cast

from evolve.program import check_syntax, split_blocks

# Nodes that never need parentheses when their text replaces another expression.
_ATOMIC = (ast.Name, ast.Call, ast.Attribute, ast.Subscript)


@dataclass(frozen=True)
class Edit:
    """Replace block characters [start, end) with `text` (offsets into the dedented block)."""

    start: int
    end: int
    text: str


def end_position(node: ast.expr | ast.stmt | ast.arg) -> tuple[int, int]:
    """(end_lineno, end_col_offset) of a parsed node.

    ast.parse sets both on every expression, statement and argument; they are typed Optional only
    because hand-built nodes may lack them, and no such node reaches the callers.
    """
    return cast(int, node.end_lineno), cast(int, node.end_col_offset)


class BlockSource:
    """A program's EVOLVE-BLOCK, dedented and parsed, with node spans and edit application.

    Edits change the block text only, so comments and layout outside the edited spans survive
    and the unified diff shows the real change. Raises CandidateError (broken markers) or
    SyntaxError (block does not parse) on construction.
    """

    def __init__(self, code: str):
        self.code = code
        self.blocks = split_blocks(code)
        raw = self.blocks.block
        lines = [ln for ln in raw.splitlines() if ln.strip()]
        lead = re.match(r"[ \t]*", lines[0]) if lines else None  # always matches a line
        self.indent = lead.group(0) if lead else ""
        for ln in lines:
            while self.indent and not ln.startswith(self.indent):
                self.indent = self.indent[:-1]
        self.text = textwrap.dedent(raw) if self.indent else raw
        self.tree = ast.parse(self.text)
        self.module = ast.parse(code)
        self.block_line = self.blocks.prefix.count("\n") + 1  # first block line in the program
        self._line_starts = [0]
        for ln in self.text.splitlines(keepends=True):
            self._line_starts.append(self._line_starts[-1] + len(ln))

    # ---- positions ----------------------------------------------------------------------
    def offset(self, lineno: int, col_bytes: int) -> int:
        """Character offset of an AST (1-based line, UTF-8 byte column) position."""
        start = self._line_starts[lineno - 1]
        stop = self._line_starts[lineno] if lineno < len(self._line_starts) else None
        line = self.text[start:stop]
        return start + len(line.encode()[:col_bytes].decode(errors="ignore"))

    def span(self, node: ast.expr | ast.stmt) -> tuple[int, int]:
        return (self.offset(node.lineno, node.col_offset),
                self.offset(*end_position(node)))

    def segment(self, node: ast.expr | ast.stmt) -> str:
        a, b = self.span(node)
        return self.text[a:b]

    def line_span(self, first_line: int, last_line: int) -> tuple[int, int]:
        """Offsets covering whole lines first_line..last_line (1-based, newline included)."""
        end = self._line_starts[last_line] if last_line < len(self._line_starts) else len(self.text)
        return self._line_starts[first_line - 1], end

    def alone_on_lines(self, stmt: ast.stmt) -> bool:
        """True when nothing but whitespace or a comment shares the statement's lines."""
        a, b = self.span(stmt)
        ls, le = self.line_span(stmt.lineno, end_position(stmt)[0])
        rest = self.text[b:le].strip()
        return not self.text[ls:a].strip() and (not rest or rest.startswith("#"))

    # ---- edits --------------------------------------------------------------------------
    def expr_edit(self, node: ast.expr, new: ast.AST | str) -> Edit:
        """Replace an expression node; parenthesize the new text unless it cannot bind wrongly."""
        text = new if isinstance(new, str) else ast.unparse(new)
        a, b = self.span(node)
        enclosed = a > 0 and b < len(self.text) and self.text[a - 1] == "(" and self.text[b] == ")"
        if not enclosed and not _is_atomic(new):
            text = f"({text})"
        return Edit(a, b, text)

    def apply(self, edits: list[Edit]) -> str:
        """The full program with the (non-overlapping) edits applied to the block."""
        text = self.text
        last = None
        for e in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
            if last is not None and e.end > last:
                raise ValueError("overlapping edits")
            text = text[: e.start] + e.text + text[e.end :]
            last = e.start
        if self.indent:
            text = textwrap.indent(text, self.indent)
        return self.blocks.join(text)


def _is_atomic(new: ast.AST | str) -> bool:
    if isinstance(new, str):
        try:
            new = ast.parse(new.strip(), mode="eval").body
        except SyntaxError:
            return False
    if isinstance(new, ast.Constant):
        return not (isinstance(new.value, (int, float)) and new.value < 0)
    return isinstance(new, _ATOMIC)


def valid_child(code: str) -> str | None:
    """None when the program parses with intact markers, else the reason."""
    try:
        check_syntax(code)
    except Exception as e:  # noqa: BLE001 - CandidateError carries the message
        return str(e)
    return None
