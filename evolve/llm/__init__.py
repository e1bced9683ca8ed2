"""LLM access: litellm client, edit parsing, prompt rendering, model selection.

Importing this package is cheap: litellm (slow to import) is loaded on the first call only.
"""

from evolve.llm.errors import ConfigError

__all__ = ["ConfigError"]
