"""Chat messages of one proposal, rendered from the Jinja2 templates in prompts/ (evolve.prompts).

`prompts/system.j2` and `prompts/user.j2` (which includes `mode_<mode>.j2`) ship with the package.
Background for the system prompt, first found wins: `problem.prompt` (text, or a .md file), a
`prompt.md` next to the problem's code or config, `<problem>/context.md` in a user template folder
(`llm.prompt.template_dir`, which also overrides any template of the same name) or in prompts/.
The numba advice appears only when the problem compiles its entry (`jit_entry`), and an
inspiration is never the parent itself.
"""

from __future__ import annotations

import math
from importlib import resources

import jinja2

from evolve.proposers.base import ProblemInfo, ProgramView


def _score(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return str(x)
    return f"{x:.6g}"


def _metrics(m: dict, limit: int = 16) -> str:
    items = list(m.items())[:limit]
    return ", ".join(f"{k}={_score(v) if isinstance(v, (int, float)) else v}" for k, v in items)


def _clip(text: str, n: int) -> str:
    text = str(text).strip()
    return text if len(text) <= n else text[: n - 20].rstrip() + " ... [truncated]"


def _package_template(name: str) -> str | None:
    node = resources.files("evolve.prompts")
    for part in name.split("/"):
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8") if node.is_file() else None


class PromptBuilder:
    """Renders the system and user messages for a parent, its inspirations and failures."""

    def __init__(self, problem: ProblemInfo, prompt_cfg: dict):
        self.problem = problem
        self.cfg = prompt_cfg
        loaders: list[jinja2.BaseLoader] = []
        if prompt_cfg.get("template_dir"):
            loaders.append(jinja2.FileSystemLoader(str(prompt_cfg["template_dir"])))
        loaders.append(jinja2.FunctionLoader(_package_template))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            autoescape=False,  # plain text prompts, not HTML
        )
        self.env.filters.update(score=_score, metrics=_metrics, clip=_clip)
        self.context = self._problem_context()

    def _problem_context(self) -> str:
        if getattr(self.problem, "background", ""):
            return self.problem.background
        text = None
        if self.cfg.get("template_dir") and self.env.loader is not None:
            try:
                text = self.env.loader.get_source(self.env, f"{self.problem.name}/context.md")[0]
            except jinja2.TemplateNotFound:
                text = None
        return text or _package_template(f"{self.problem.name}/context.md") or ""

    def messages(self, mode: str, parent: ProgramView, inspirations: list[ProgramView],
                 failures: list[ProgramView]) -> list[dict]:
        """[system, user] chat messages for `mode` (diff | rewrite | fix)."""
        # the parent is shown once: an inspiration with its id or its code would repeat it
        inspirations = [p for p in inspirations
                        if p.id != parent.id and p.code.strip() != parent.code.strip()]
        system = self.env.get_template("system.j2").render(problem=self.problem,
                                                           context=self.context)
        user = self.env.get_template("user.j2").render(
            problem=self.problem,
            mode=mode,
            parent=parent,
            inspirations=inspirations,
            failures=failures,
            max_feedback_chars=int(self.cfg["max_feedback_chars"]),
            max_error_chars=max(200, int(self.cfg["max_feedback_chars"]) // 2),
        )
        return [{"role": "system", "content": system.strip() + "\n"},
                {"role": "user", "content": user.strip() + "\n"}]
