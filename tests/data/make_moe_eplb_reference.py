"""Regenerate tests/data/moe_eplb_reference.npz from DeepSeek's reference `eplb.py`.

The file holds what the reference returned, so that tests/test_moe_eplb.py can check the numpy +
numba port (seeds/moe_placement/deepseek.py) without torch, which is not a dependency. To make it:

    git clone https://github.com/deepseek-ai/EPLB /tmp/EPLB      # the reference: eplb.py
    .venv/bin/pip install torch                                  # any CPU build
    .venv/bin/python tests/data/make_moe_eplb_reference.py --eplb /tmp/EPLB/eplb.py --check
    .venv/bin/python tests/data/make_moe_eplb_reference.py --eplb /tmp/EPLB/eplb.py   # rewrite

The committed file was made with torch 2.13.0 (CPU) and the eplb.py whose global policy calls
`rebalance_experts_hierarchical(weight, R, 1, 1, G)`. `--check` compares with the committed file
instead of writing it (exit 1 on a difference). Any module with eplb.py's
`rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus)` works: its outputs are
read with np.asarray, so torch tensors and numpy arrays are both fine.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from evolve.evaluators.moe import Shapes, balance, validate
from evolve.problems.moe_placement.workloads import real_statistics

OUT = Path(__file__).resolve().parent / "moe_eplb_reference.npz"
FIRST_MOE_LAYER = 3  # DeepSeek-V3/R1: layers 0-2 are dense (all-zero rows in the statistics)
# The two deployments the tests compare: 288 replicas on 32 GPUs, grouped by node or not.
MODES = {"hierarchical": Shapes(288, 8, 4, 32), "global": Shapes(288, 1, 1, 32)}
# The example in the EPLB README: 2 layers, 12 experts, 16 replicas, 4 groups, 2 nodes, 8 GPUs.
EXAMPLE_WEIGHT = [[90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86],
                  [20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27]]
EXAMPLE_SHAPE = (16, 4, 2, 8)


def load_reference(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("eplb_reference", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"--eplb {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_input(ref: ModuleType, weight: np.ndarray):
    """A torch tensor when the reference is eplb.py itself (it calls tensor methods on it)."""
    torch = getattr(ref, "torch", None)
    return torch.from_numpy(weight) if torch is not None else weight


def plan(ref: ModuleType, weight: np.ndarray, sh: Shapes) -> tuple[np.ndarray, ...]:
    out = ref.rebalance_experts(as_input(ref, weight), sh.num_replicas, sh.num_groups,
                                sh.num_nodes, sh.num_gpus)
    return tuple(np.asarray(x) for x in out)


def build(ref: ModuleType) -> dict[str, np.ndarray]:
    stats = real_statistics()
    names = sorted(stats)
    logcnt = np.zeros((len(MODES), len(names), 61 - FIRST_MOE_LAYER, 256), dtype=np.uint8)
    gpu = np.zeros((len(MODES), len(names)))
    for m, sh in enumerate(MODES.values()):
        for i, name in enumerate(names):
            load = stats[name][FIRST_MOE_LAYER:].astype(np.float64)
            phy2log, _log2phy, cnt = validate(*plan(ref, load, sh), load, sh)
            logcnt[m, i] = cnt
            gpu[m, i] = balance(phy2log, cnt, load, sh).gpu
    ex = plan(ref, np.array(EXAMPLE_WEIGHT, dtype=np.float64), Shapes(*EXAMPLE_SHAPE))
    return {"names": np.array(names), "modes": np.array(list(MODES)), "logcnt": logcnt,
            "balancedness_gpu": gpu, "example_phy2log": ex[0].astype(np.int16),
            "example_log2phy": ex[1].astype(np.int16), "example_logcnt": ex[2].astype(np.int16)}


def differences(made: dict[str, np.ndarray], committed: Path) -> list[str]:
    with np.load(committed) as old:
        keys = sorted(set(old.files) | set(made))
        return [k for k in keys if k not in old.files or k not in made
                or old[k].shape != made[k].shape or not np.array_equal(old[k], made[k])]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eplb", type=Path, required=True, help="path to DeepSeek's eplb.py")
    ap.add_argument("-o", "--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="compare with --out, do not write")
    args = ap.parse_args(argv)
    made = build(load_reference(args.eplb))
    if args.check:
        diff = differences(made, args.out)
        print(f"{args.out.name}: " + (f"differs in {', '.join(diff)}" if diff else "identical"))
        return 1 if diff else 0
    np.savez_compressed(args.out, **made)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
