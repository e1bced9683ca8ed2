"""code_hash is total: valid but hostile programs (too deep for the AST) never raise in the
controller."""

from __future__ import annotations

import ast
import hashlib

import pytest

from evolve.program import FAILURE_KINDS, code_hash, normalize

HOSTILE = {
    "sum_1000": "x = " + "+".join(["1"] * 1000) + "\n",
    "sum_100k": "x = " + "+".join(["1"] * 100_000) + "\n",
    "unary_5000": "x = " + "-" * 5000 + "1\n",
    "parens_1000": "x = " + "(" * 1000 + "1" + ")" * 1000 + "\n",
    "null_byte": "x = 1\x00\n",
    "lone_surrogate": "x = '\ud800'\n",
    "unterminated": "x = '''abc\n",
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_code_hash_never_raises(name):
    h = code_hash(HOSTILE[name])
    assert len(h) == 64 and h == code_hash(HOSTILE[name])


def test_fallback_still_ignores_comments_and_layout():
    a = "x = " + "+".join(["1"] * 1000) + "  # a comment\n"
    b = "x = " + " + ".join(["1"] * 1000) + "\n"
    assert code_hash(a) == code_hash(b)
    assert code_hash(a) != code_hash(a.replace("1+1", "1+2", 1))


def test_ordinary_programs_hash_as_before():
    # Archives written before the fallback existed must keep matching (resume, duplicates).
    code = 'def f(x):\n    """doc"""\n    # c\n    return x + 1\n'
    tree = ast.parse(code)
    tree.body[0].body = tree.body[0].body[1:]
    assert normalize(code) == ast.unparse(tree)
    assert code_hash(code) == hashlib.sha256(ast.unparse(tree).encode()).hexdigest()


def test_engine_failure_kinds_are_declared():
    assert {"engine_error", "problem_error"} <= set(FAILURE_KINDS)
