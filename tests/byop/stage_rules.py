"""A helper module the test problem imports from its own folder."""


def sane(summary) -> bool:
    return summary.metrics["v"] < 100
