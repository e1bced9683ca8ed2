"""The built-in proposer: evolves a program's EVOLVE-BLOCK offline, without a language model.

`BuiltinProposer` (proposer.py) makes one child per iteration. It parses the parent's block
(source.py), finds where it may be changed (scope.py: value expressions, literals, comparisons,
loop statements; inference.py and kinds.py keep anything that flows into an index, and the
int/float/array kind of every expression, intact so that numba still compiles the child), and
lets a bandit over operators (bandit.py, statistics recomputed from the archive's history, so a
resumed run chooses alike) pick one of:

Mutations (mutation.py; new expressions come from exprgen.py, over the names in scope)
  const_perturb   a relative or absolute random step on one numeric literal
  op_swap         + - * / exchanged (a new division is guarded), or min <-> max
  cmp_swap        one of < <= > >= exchanged for another
  expr_replace    a value expression replaced by a random one
  expr_wrap       a value expression wrapped: max(e, x), min(e, x), e * c, e + x, e * x, e / x
  stmt_delete     a value assignment in a loop body removed
  stmt_duplicate  an accumulating statement in a loop body repeated
  feature_add     a new input feature (mean/max/min/sum/std of an input array) used at a site
  update_gate     an update's effect (v *= e, v += e, v = f(v)) weighted by a ramp in a size
                  bound there, min(n / c, 1) or max(1 - n / c, 0) (gating.py): a term that pays
                  on large inputs and costs on small ones acts where it pays

Grammar-guided growth (grow.py) with typed building blocks (blocks.py: the scalar sub-expressions
of the problem's seeds under seeds/<problem>/ and of the history's `elite_blocks` best programs,
offered only where the names they read are bound)
  block_grow      a scalar site e -> e + c*T, e * (1 + c*T), max(e, T), min(e, T), where T is a
                  block or a template over blocks and names (ratio, clip at 0, saturation, min /
                  max, decay); also one of grow_cmaes's structural steps, which tunes the c
  block_swap      a compound scalar sub-expression replaced by such a T

Crossovers with a mate (crossover.py): an inspiration from the archive (the child records it)
or, with `seed_mates` (default), one of the problem's packaged seeds (named in the child's diff)
  xo_function     a function replaced by the mate's same-named one
  xo_statement    the right-hand side of a statement with the same role in the mate
  xo_subtree      a value expression replaced by a mate's expression of the same kind
  xo_append       a mate's update of a value the parent computes (v *= e, v += e, v = f(v)), with
                  the mate's assignments it reads, inserted after the parent's last assignment
                  of that value (a whole term of another rule, e.g. MDDC's long-job factor);
                  with `gate_prob` (default 0.5) the update arrives gated as by update_gate

Constant tuning (lifting.py lifts the literals into a vector; tuner.py asks the engine to run
tuning.py's CMA-ES in one sandboxed child on the cheap stage, budgeted in evaluations, no clock)
  cmaes           tune the parent's literals
  grow_cmaes      one structural mutation (expr_wrap, feature_add, expr_replace, op_swap), then
                  tune the literals of the result

Operator weights, the bandit and the tuning budget are `proposer.builtin.*`
(evolve/config_schema.py: Builtin). A child that does not parse or repeats a known program is
retried with another draw (up to `max_attempts`); when none succeeds the proposal is
`diff_failed` (recorded, the run goes on). "Repeats" is checked before any evaluation: with
`novelty` (default) up to algebra (novelty.py: operand order of + * min max, int/float literals,
x*1, x+0, ...), and with `probe` also by behaviour: a child whose outputs on the gate set equal
its parent's (one Python run in the sandbox, probe.py) is not sent to evaluation.
"""

from evolve.proposers.builtin.proposer import BuiltinProposer

__all__ = ["BuiltinProposer"]
