"""Heuristic-discovery engine: config, loop, selection, archive, proposers, sandbox, CLIs."""
