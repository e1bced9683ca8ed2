"""Prompt texts of the spot problems (the LLM sees `description` and `signature`)."""

SIGNATURE = (
    "def decide(elapsed: float, gap: float, deadline: float, job: float, work_left: float, "
    "overhead: float, pending: float, cur_type: int, last_type: int, region: int, "
    "avail: np.ndarray[int64], price: np.ndarray[float64], mem: np.ndarray[float64]) "
    "-> tuple[int, int]"
)

_CONTRACT = """\
`decide` is called once per tick (tick length `gap` seconds) and returns `(action, region)`
for the next tick: action 0 = NONE (no instance), 1 = SPOT, 2 = ON_DEMAND. All times are seconds.

Arguments:
- elapsed: time since the job started (tick index * gap); deadline: time by which the job must end.
- job: total compute the job needs; work_left: compute still missing (<= 0 when done).
- overhead: restart overhead d; every start of an instance (and every region move of a running
  one) first spends d seconds of paid time without progress. pending: overhead still to be paid
  by the instance currently running.
- cur_type: the instance running now (0/1/2), NONE if spot was just preempted;
  last_type: the type that ran during the previous tick (still 1 right after a preemption).
- region: current region index.
- avail: int64 array, one entry per region: 1 = spot available for the coming tick, 0 = \
not{avail_unknown}.
- price: float64 array, spot price ($/h) per region for the coming tick. On-demand costs
  3.06 $/h everywhere and is always available.
- mem: float64 array of 16 zeros at the start of every job; keep any state you need in it
  (plain Python globals do not survive between jobs or compile under numba).

Rules enforced by the simulator: SPOT in a region without spot becomes NONE (idle, free, no
progress); a spot instance can be preempted between ticks (you see it as cur_type == 0 with
last_type == 1); every tick with a running instance is billed in full at the price of the region
it runs in. When the remaining slack can no longer absorb one restart overhead the simulator
forces ON_DEMAND (or keeps a running, overhead-free spot instance), so the deadline is always met,
but forced on-demand time is expensive: a good policy spends its slack wisely before that point.

The code is compiled with numba.njit: use scalars, math, numpy arrays and loops; no dicts,
classes, lists of mixed types or I/O. Helper functions must be decorated with @numba.njit (or
the whole program falls back to slow plain Python). Return two ints.
"""

_SUITES = {
    "leaderboard": ("the ADRS leaderboard suite (6 zones/instance types x deadlines 52 and 70 h x "
                    "restart overheads 0.02, 0.05, 0.1 h x 30 trace windows)",
                    "greedy: about 119 $, Uniform Progress: about 102 $"),
    "paper": ("the Can't-Be-Late paper suite (4 zones/instance types x deadlines 52, 70 and 92 h x "
              "restart overheads 0.02, 0.2, 0.4 h x 30 trace windows)",
              "greedy: about 97 $, Uniform Progress: about 92 $"),
}


def single(suite: str) -> str:
    """The spot_single prompt text for a test suite (leaderboard or paper)."""
    where, refs = _SUITES[suite]
    return f"""\
Can't Be Late (single region): finish a 48 h GPU job before its deadline at minimum cost on AWS
spot instances (cheap, 0.9731 $/h, may be unavailable or preempted) and on-demand instances
(3.06 $/h, always available), using real availability traces with a 10-minute tick.
Evaluated on {where}; the score is minus the mean cost in $ ({refs}, all on-demand: 147 $).
There is one region: `region` is always 0 and avail/price have one entry.

{_CONTRACT.format(avail_unknown="")}"""

MULTI = f"""\
Can't Be Late (multi-region): finish a 48 h GPU job within 52 h at minimum cost, choosing each
tick between spot instances in several AWS regions (prices differ by region and over time,
about 0.9-1.8 $/h; availability differs by region), on-demand (3.06 $/h) or nothing; real traces
with a 195 s tick, restart overhead 0.2 h. Moving a running instance to another region pays the
restart overhead again. Evaluated on the six ADRS scenarios (2 to 9 regions); the score is minus
the mean of the scenario mean costs in $ (greedy round-robin: about 82 $, Uniform Progress over
all regions: about 78 $).

{_CONTRACT.format(avail_unknown=" (-1 = not observed: the scenario hides other regions)")}"""
