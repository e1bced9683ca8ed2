"""Hydra config tree of `evolve`. Importing it (Hydra does, for pkg://evolve.conf) registers the
structured schema (evolve/config_schema.py) that the YAML files here build on."""

from evolve.config_schema import register

register()
