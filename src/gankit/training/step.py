"""One iteration of a stage: its phases in turn, each ``repeats`` times (used by the loop and by
``--batch-size auto``, which measures the memory of exactly this)."""

from __future__ import annotations

from gankit.training.monitors import grad_norm
from gankit.training.objective import Objective, Phase, TrainContext
from gankit.training.parts import Parts
from gankit.training.performance import Precision


def iterate(
    phases: list[Phase], parts: Parts, objective: Objective, precision: Precision, at_tick: bool
) -> None:
    """Run ``phases`` (those due this step); ``at_tick``: report each phase's gradient norm once."""
    ctx: TrainContext = objective.ctx
    phases = [p for p in phases if ctx.step % p.every == 0]
    for i, phase in enumerate(phases):
        # a phase trains its networks; those whose graph the next phase reuses keep their gradients
        parts.train_only(set(phase.trains) | set(phase.keeps))
        reused = i + 1 < len(phases) and bool(set(phase.keeps) & set(phases[i + 1].trains))
        for r in range(phase.repeats):
            objective.new_repeat()
            ctx.keep_graph = reused and r == phase.repeats - 1
            watch = at_tick and r == phase.repeats - 1  # once per tick: exploding gradients?
            step_phase(phase, parts, objective, precision, watch)


def step_phase(phase: Phase, parts: Parts, objective: Objective, precision: Precision, watch: bool) -> None:
    opt, stats = parts.opts[phase.group], objective.ctx.stats
    report = None
    if watch:
        params = parts.params_of(phase.trains)

        def report() -> None:
            stats.report(f"grad_norm/{phase.name}", grad_norm(params))

    if phase.custom is not None:
        opt.zero_grad(set_to_none=True)
        with precision.autocast():
            phase.custom(objective)
        if report is not None:
            report()
        opt.step()
    else:
        with precision.autocast():
            loss = sum(term(objective) for term in phase.terms)
        opt.zero_grad(set_to_none=True)
        # backward + step (+ fp16 loss scaling), the gradient norm read in between
        precision.backward_step(loss, opt, report)
    for hook in phase.after_step:
        hook(objective)
