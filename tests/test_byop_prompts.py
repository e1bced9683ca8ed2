"""Prompts for outside problems: numba advice only for a jitted entry, the problem's background
(problem.prompt or prompt.md next to it), and an inspiration never repeats the parent."""

from __future__ import annotations

from pathlib import Path

from evolve.llm.prompts import PromptBuilder
from evolve.problem import make_problem
from evolve.proposers.base import ProblemInfo, ProgramView

HERE = Path(__file__).resolve().parent / "byop"
CFG = {"max_feedback_chars": 2000, "template_dir": None}


def view(id: int, code: str) -> ProgramView:
    return ProgramView(id=id, iteration=id, island=0, generation=0, parent_id=None, code=code,
                       status="ok", score=1.0, metrics={"v": 1.0}, feedback="fine", error="",
                       proposer="seed", operator=None, model=None, behaviour=None,
                       improved=False, cost_usd=0.0)


def info(problem) -> ProblemInfo:
    return ProblemInfo(problem.name, problem.entry, problem.signature, problem.description,
                       jitted=bool(problem.jit_entry), background=problem.background())


def test_outside_problem_prompt(tmp_path):
    problem = make_problem({"name": "cascade3", "target": "cascade3.py:Cascade3",
                            "config_dir": str(HERE / "problem")})
    assert problem.jit_entry is False  # an outside problem that does not ask for numba
    assert problem.seed_path("one") == HERE / "seeds" / "one.py"  # seeds/ next to the config
    system, user = PromptBuilder(info(problem), CFG).messages(
        "diff", view(1, "def solve(k):\n    return 1.0\n"),
        [view(1, "x"), view(2, "def solve(k):\n    return 1.0\n"), view(3, "def solve(k): 2")],
        [])
    assert "numba" not in system["content"]
    assert "def solve(k): 2" in user["content"]
    assert user["content"].count("return 1.0") == 1  # the parent, shown once


def test_background_from_key_or_prompt_md(tmp_path):
    (tmp_path / "prompt.md").write_text("Values above 100 are refused.")
    cfg = {"name": "cascade3", "target": str(HERE / "cascade3.py") + ":Cascade3",
           "config_dir": str(tmp_path)}
    assert make_problem(cfg).background() == "Values above 100 are refused."
    assert make_problem({**cfg, "prompt": "Short text."}).background() == "Short text."
    system = PromptBuilder(info(make_problem(cfg)), CFG).messages("diff", view(1, "a"), [], [])[0]
    assert "# Background\nValues above 100 are refused." in system["content"]
    smtt = make_problem({"name": "smtt", "target": "evolve.problems.smtt:SmttProblem"})
    jitted = PromptBuilder(info(smtt), CFG).messages("diff", view(1, "a"), [], [])[0]
    assert "numba" in jitted["content"]
