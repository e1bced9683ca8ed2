"""LLM access: litellm client, edit parsing, prompt rendering, model selection."""
