"""Errors of the LLM layer that the engine reports to the user as one line."""

from evolve import config


class ConfigError(config.ConfigError):
    """Bad or missing LLM configuration (API key, model, window): refuses the run before it starts.

    A subclass of evolve.config.ConfigError, so `evolve` prints it as one line and exits 2.
    """
