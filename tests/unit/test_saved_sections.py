"""A saved config from before a key existed means what it meant then: a section it gives is
completed with that section's own defaults, not with the parent's preset for the section."""

from __future__ import annotations

import pytest

from evolve.config import load_saved
from evolve.config_check import typed
from evolve.problem import ProblemError
from evolve.problems.smtt.schema import SmttSchema
from evolve.problems.smtt.splits import split_params

# the train split of a run saved before `per_class_by_size` existed (seven sizes)
OLD_TRAIN = {"sizes": [20, 30, 40, 50, 60, 80, 100], "per_class": 3, "seed": 1}


def test_a_saved_section_without_a_new_key_gets_its_off_value():
    node = typed(SmttSchema, {"name": "smtt", "train": dict(OLD_TRAIN)}, "problem")
    assert list(node.train.per_class_by_size) == []
    assert list(node.train.sizes) == OLD_TRAIN["sizes"]
    # sections the saved config does not give keep today's presets
    assert list(node.validation.per_class_by_size) == SmttSchema().validation.per_class_by_size


def test_resume_reads_the_same_saved_section():
    cfg = load_saved({"problem": {"name": "smtt", "target": SmttSchema.target,
                                  "train": dict(OLD_TRAIN)}})
    assert list(cfg.problem.train.per_class_by_size) == []
    assert list(cfg.problem.train.sizes) == OLD_TRAIN["sizes"]


def test_a_contradiction_the_user_wrote_is_still_refused():
    node = typed(SmttSchema, {"train": {**OLD_TRAIN, "per_class_by_size": [3, 3]}}, "problem")
    with pytest.raises(ProblemError, match=r"per_class_by_size=\[3, 3\]: needs one count per size"):
        split_params("train", dict(node.train), False, [0.2], [0.2])
