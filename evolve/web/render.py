"""Jinja2 rendering shared by the server and the static report. Autoescape is on for every
template; archive data reaches a page only as escaped text or as JSON made HTML-safe."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from evolve.cli.common import _clean, _jsonable, fmt_num, fmt_secs


def _dumps(obj: Any, **kw: Any) -> str:
    return json.dumps(obj, default=_jsonable, allow_nan=False, **kw)


def page_json(obj: Any) -> Markup:
    """JSON for a `<script type="application/json">` block: NaN becomes null, and <, >, &, '
    are \\u escapes, so no archive text can close the block or open a tag."""
    return htmlsafe_json_dumps(_clean(obj), dumps=_dumps)


@cache
def env() -> Environment:
    e = Environment(loader=PackageLoader("evolve.web", "templates"), autoescape=True,
                    trim_blocks=True, lstrip_blocks=True)
    e.filters["num"] = fmt_num
    e.filters["secs"] = fmt_secs
    e.filters["pagejson"] = page_json
    return e


def compile_all() -> None:
    """Compile every template now (Jinja compiles one on its first render: 0.2-0.6 s that
    would otherwise land on the first page a user opens)."""
    for name in env().list_templates(extensions=["html"]):
        env().get_template(name)


def render(template: str, **context: Any) -> str:
    return env().get_template(template).render(**context)


def static_text(name: str) -> str:
    """One of the package's own static files (CSS/JS), for inlining into the report."""
    return (resources.files("evolve.web") / "static" / name).read_text(encoding="utf-8")
