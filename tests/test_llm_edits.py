"""Edit application: SEARCH/REPLACE blocks, drift tolerance, fences, block boundaries, rewrites."""

import pytest

from evolve.llm.edits import (
    DiffError,
    apply_edits,
    child_from_reply,
    extract_rewrite,
    parse_edits,
)
from evolve.program import check_syntax, split_blocks
from evolve.proposers.base import unified_diff

PARENT = '''"""Single-machine total tardiness: the order in which to run the jobs."""
import numpy as np

LIMIT = 1000  # fixed part


# EVOLVE-BLOCK-START
def schedule(p, d):
    """Earliest due date with a processing-time tie-break."""
    n = p.shape[0]
    key = np.empty(n)
    for j in range(n):
        key[j] = d[j] + 0.5 * p[j]

    order = np.argsort(key, kind="stable")
    return order
# EVOLVE-BLOCK-END


def helper(x):
    return x + 1
'''


def block(code):
    return split_blocks(code).block


def sr(search, replace):
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def test_single_edit_changes_only_the_block():
    reply = "Weigh p more.\n" + sr("        key[j] = d[j] + 0.5 * p[j]",
                                   "        key[j] = d[j] + 0.8 * p[j]")
    res = child_from_reply(reply, PARENT)
    assert res.how == "diff" and res.n_edits == 1
    assert "0.8 * p[j]" in res.code and "0.5 * p[j]" not in res.code
    assert split_blocks(res.code).prefix == split_blocks(PARENT).prefix
    assert split_blocks(res.code).suffix == split_blocks(PARENT).suffix
    check_syntax(res.code)
    assert "-        key[j] = d[j] + 0.5 * p[j]" in unified_diff(PARENT, res.code)


def test_multiple_blocks_in_fences_apply_in_order():
    reply = (
        "Two changes.\n```diff\n"
        + sr("    n = p.shape[0]", "    n = p.shape[0]\n    w = 0.7")
        + "```\n\nand\n\n```\n"
        + sr("        key[j] = d[j] + 0.5 * p[j]", "        key[j] = d[j] + w * p[j]")
        + "```\n"
    )
    res = child_from_reply(reply, PARENT)
    assert res.n_edits == 2
    assert "    w = 0.7\n" in res.code and "d[j] + w * p[j]" in res.code
    check_syntax(res.code)


def test_indentation_drift_is_reindented():
    # The model dropped the function's indentation in both parts.
    reply = sr("for j in range(n):\n    key[j] = d[j] + 0.5 * p[j]",
               "for j in range(n):\n    key[j] = d[j] - p[j]\n    key[j] += 0.1")
    res = child_from_reply(reply, PARENT)
    assert ("    for j in range(n):\n        key[j] = d[j] - p[j]\n        key[j] += 0.1\n"
            in res.code)
    assert res.notes and "indentation" in res.notes[0]
    check_syntax(res.code)


def test_trailing_spaces_and_blank_line_drift_match():
    reply = sr("        key[j] = d[j] + 0.5 * p[j]   \n"
               "    order = np.argsort(key, kind=\"stable\")",
               "        key[j] = d[j]\n    order = np.argsort(key)")
    res = child_from_reply(reply, PARENT)
    assert "    order = np.argsort(key)\n" in res.code
    check_syntax(res.code)


def test_search_that_does_not_match_names_the_differing_line():
    reply = sr("    n = p.shape[0]\n    key = np.zeros(n)", "    n = len(p)")
    with pytest.raises(DiffError) as e:
        child_from_reply(reply, PARENT)
    msg = str(e.value)
    assert "edit 1" in msg and "np.zeros(n)" in msg and "np.empty(n)" in msg


def test_search_first_line_missing_gives_closest_line():
    with pytest.raises(DiffError, match=r"closest line in the block is 'n = p\.shape\[0\]'"):
        child_from_reply(sr("    n = p.shape[1]", "    n = 3"), PARENT)


def test_edit_outside_the_block_is_rejected():
    with pytest.raises(DiffError, match="outside the EVOLVE-BLOCK"):
        child_from_reply(sr("LIMIT = 1000  # fixed part", "LIMIT = 5"), PARENT)
    with pytest.raises(DiffError, match="outside the EVOLVE-BLOCK"):
        child_from_reply(sr("    return x + 1", "    return x + 2"), PARENT)


def test_edit_touching_markers_is_rejected():
    reply = sr("# EVOLVE-BLOCK-END", "# EVOLVE-BLOCK-END\nLIMIT = 3")
    with pytest.raises(DiffError, match="markers"):
        child_from_reply(reply, PARENT)


def test_partial_block_is_reported_as_cut_off():
    reply = "Idea.\n<<<<<<< SEARCH\n    n = p.shape[0]\n=======\n    n = len(p)\n"
    with pytest.raises(DiffError, match=r"incomplete.*cut off"):
        parse_edits(reply)


def test_missing_divider_is_malformed():
    with pytest.raises(DiffError, match="no ======= line"):
        parse_edits("<<<<<<< SEARCH\n    n = p.shape[0]\n>>>>>>> REPLACE\n")


def test_later_edit_failing_fails_the_whole_reply():
    reply = sr("    n = p.shape[0]", "    n = len(p)") + sr("    nope()", "    yes()")
    with pytest.raises(DiffError, match="edit 2"):
        child_from_reply(reply, PARENT)


def test_no_op_edit_is_refused():
    reply = sr("    n = p.shape[0]", "    n = p.shape[0]  # same")
    with pytest.raises(DiffError, match="unchanged"):
        child_from_reply(reply, PARENT)


def test_prose_only_reply_is_refused():
    with pytest.raises(DiffError, match="neither SEARCH/REPLACE"):
        child_from_reply("I think the heuristic is already optimal.", PARENT)


def test_fenced_full_program_rewrite_keeps_fixed_part():
    new_block = (
        "def schedule(p, d):\n"
        "    \"\"\"Modified due date.\"\"\"\n"
        "    return np.argsort(np.maximum(d, p), kind=\"stable\")\n"
    )
    program = split_blocks(PARENT).prefix + new_block + split_blocks(PARENT).suffix
    reply = f"Use MDD.\n```python\n{program}```\nDone."
    res = child_from_reply(reply, PARENT)
    assert res.how == "rewrite" and block(res.code) == new_block
    check_syntax(res.code)


def test_rewrite_of_block_alone_without_markers():
    reply = "```python\ndef schedule(p, d):\n    return np.argsort(d - p)\n```"
    res = extract_rewrite(reply, PARENT)
    assert block(res.code) == "def schedule(p, d):\n    return np.argsort(d - p)\n"


def test_fenced_fragment_is_not_taken_for_the_whole_block():
    reply = "Change the key:\n```python\n        key[j] = d[j] + 0.9 * p[j]\n```"
    with pytest.raises(DiffError, match="defines none of schedule"):
        child_from_reply(reply, PARENT)


def test_edit_outside_a_block_that_starts_the_file():
    parent = "# EVOLVE-BLOCK-START\nK = 1\n# EVOLVE-BLOCK-END\nLIMIT = 3\n"
    with pytest.raises(DiffError, match="outside the EVOLVE-BLOCK"):
        child_from_reply(sr("LIMIT = 3", "LIMIT = 4"), parent)


def test_rewrite_changing_fixed_part_is_rejected():
    program = PARENT.replace("LIMIT = 1000", "LIMIT = 7").replace("0.5 * p[j]", "0.9 * p[j]")
    with pytest.raises(DiffError, match="outside the EVOLVE-BLOCK"):
        child_from_reply(f"```python\n{program}```", PARENT)


def test_unclosed_fence_is_cut_off():
    with pytest.raises(DiffError, match="not closed"):
        child_from_reply("```python\ndef schedule(p, d):\n    return np", PARENT)


def test_rewrite_with_broken_markers_is_rejected():
    program = PARENT.replace("# EVOLVE-BLOCK-END\n", "")
    with pytest.raises(DiffError, match="markers broken"):
        child_from_reply(f"```python\n{program}```", PARENT)


def test_block_inside_a_function_is_reindented_on_rewrite():
    head = "def schedule(p, d):\n    # EVOLVE-BLOCK-START\n"
    tail = "    # EVOLVE-BLOCK-END\n    return k\n"
    parent = head + "    k = d\n" + tail
    res = extract_rewrite("```python\nk = d - p\n```", parent)
    assert res.code == head + "    k = d - p\n" + tail
    check_syntax(res.code)


def test_program_without_markers_is_one_block():
    parent = "def f(x):\n    return x * 2\n"
    res = apply_edits(parent, parse_edits(sr("    return x * 2", "    return x * 3")))
    assert res.code == "def f(x):\n    return x * 3\n"
