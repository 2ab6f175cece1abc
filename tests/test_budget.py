"""--minutes: a run planned to a wall-clock budget is the run --steps N makes, and resumes exactly."""

import json
import subprocess
import sys

import pytest
import torch
from test_resume import final_state, stats_without_timing

import gankit
from gankit.training import budget

SMALL = dict(
    data="ring8",
    model="mlp",
    progress=False,
    overrides=["model.width=16", "train.batch_size=32", "train.log_every=5"],
)


def same_weights(a, b) -> bool:
    sa, sb = final_state(a), final_state(b)
    return sa["step"] == sb["step"] and all(
        torch.equal(sa[net][k], sb[net][k]) for net in ("G", "D", "G_ema") for k in sa[net]
    )


def test_a_budgeted_run_is_the_run_its_planned_steps_make(tmp_path, monkeypatch):
    monkeypatch.setattr(budget.Budget, "new_length", lambda *a: None)  # the machine kept its pace
    measure = budget._measure

    def measured_then_bounded(*args, **kwargs):  # the real calibration, its figures then bounded so
        timing = measure(*args, **kwargs)  # that a busy machine still plans a run of many steps
        return {k: min(v, 0.02) if k == "step_s" else min(v, 0.05) for k, v in timing.items()}

    monkeypatch.setattr(budget, "_measure", measured_then_bounded)
    monkeypatch.setattr(budget, "elapsed_since", lambda since: 0.0)  # nor does calibration eat the budget
    run = gankit.train(out=tmp_path / "budget", minutes=0.1, **SMALL)
    plan = json.loads((tmp_path / "budget" / "budget.json").read_text())
    assert run.step == plan["steps"] == plan["steps_run"] > 10
    assert plan["minutes"] == 0.1 and plan["step_s"] > 0 and plan["trained_s"] > 0
    config = (tmp_path / "budget" / "config.yaml").read_text()
    assert "minutes: 0.1" in config and f"steps: {run.step}" in config
    # every schedule followed the planned length: the learning rate decayed to its end, 10 grids
    last = json.loads((tmp_path / "budget" / "stats.jsonl").read_text().splitlines()[-1])
    assert last["step"] == run.step and last["lr_g"] < 1e-6
    assert "time budget" in (tmp_path / "budget" / "report.html").read_text()
    assert json.loads((tmp_path / "budget" / "machine.json").read_text())["torch"] == torch.__version__

    gankit.train(out=tmp_path / "steps", steps=run.step, **SMALL)  # --steps N reproduces it
    assert same_weights(tmp_path / "budget", tmp_path / "steps")
    assert stats_without_timing(tmp_path / "budget") == stats_without_timing(tmp_path / "steps")
    grids = [sorted(p.name for p in (tmp_path / r).glob("fakes_*.png")) for r in ("budget", "steps")]
    assert grids[0] == grids[1] and len(grids[0]) >= 2  # the same cadence, from the planned length


@pytest.fixture
def steady_clock(monkeypatch):
    """A machine measured at 0.01 s a step that keeps that pace, so that two runs plan alike."""
    timing = {"step_s": 0.01, "export_s": 0.0, "preview_s": 0.0, "eval_s": 0.0, "save_s": 0.0, "total_s": 0.0}
    monkeypatch.setattr(budget, "_measure", lambda *a, **k: dict(timing))
    monkeypatch.setattr(budget, "elapsed_since", lambda since: 0.0)
    monkeypatch.setattr(budget.Budget, "new_length", lambda *a: None)


@pytest.fixture
def slow_clock(steady_clock, monkeypatch):
    """The same plan, on a machine that then runs at 0.02 s a step: time is the step times 0.02."""
    now = {"t": 0.0}
    monkeypatch.setattr(budget, "_clock", lambda: now["t"])
    monkeypatch.setattr(budget.Budget, "new_length", REAL_NEW_LENGTH)

    def tick(step, stats):  # called after the loop's budget check: the time at the next step's
        now["t"] = (step + 1) * 0.02

    return tick


REAL_NEW_LENGTH = budget.Budget.new_length


def test_a_run_slower_than_planned_is_replanned_to_end_on_its_budget(tmp_path, slow_clock):
    run = gankit.train(out=tmp_path / "r", minutes=0.01, callbacks=[slow_clock], **SMALL)
    plan = json.loads((tmp_path / "r" / "budget.json").read_text())
    assert plan["steps"] == 60 and plan["replans"] == [[10, 30]]  # 0.6 s at the measured 0.02 s a step
    assert run.step == 30 and "steps: 30" in (tmp_path / "r" / "config.yaml").read_text()
    last = json.loads((tmp_path / "r" / "stats.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 30 and last["lr_g"] == 0.0  # the schedule was finished, not cut

    stop = lambda step, stats: step < 20  # noqa: E731  (killed after the re-plan)
    slow_clock(-1, None)  # the clock of a new process
    gankit.train(out=tmp_path / "cut", minutes=0.01, callbacks=[slow_clock, stop], **SMALL)
    resumed = gankit.train(resume=tmp_path / "cut", callbacks=[slow_clock])
    assert resumed.step == 30
    assert same_weights(tmp_path / "r", tmp_path / "cut")


def test_a_run_whose_steps_cost_more_later_is_replanned_at_the_recent_pace(
    tmp_path, steady_clock, monkeypatch
):
    # planned at 0.01 s a step; from step 20 (a costlier stage, say) a step takes 0.03 s
    now = {"t": 0.0}
    monkeypatch.setattr(budget, "_clock", lambda: now["t"])
    monkeypatch.setattr(budget.Budget, "new_length", REAL_NEW_LENGTH)
    cost = lambda step: 0.01 * min(step, 20) + 0.03 * max(0, step - 20)  # noqa: E731

    def tick(step, stats):
        now["t"] = cost(step + 1)

    run = gankit.train(out=tmp_path / "r", minutes=0.01, callbacks=[tick], **SMALL)
    # 0.6 s: 20 cheap steps and 13 dear ones; the whole session's average pace would plan ~36 (0.68 s)
    assert 0.57 <= cost(run.step) <= 0.6 * 1.02


def test_a_budgeted_run_resumed_midway_ends_where_an_uninterrupted_one_does(tmp_path, steady_clock):
    whole = gankit.train(out=tmp_path / "whole", minutes=0.01, **SMALL)
    assert whole.step == 60  # 0.6 s / 0.01 s per step
    cut = gankit.train(out=tmp_path / "cut", minutes=0.01, callbacks=[lambda s, _: s < 23], **SMALL)
    assert cut.interrupted and cut.step == 23
    resumed = gankit.train(resume=tmp_path / "cut")  # the remaining budget: the plan it made
    assert resumed.step == whole.step
    assert same_weights(tmp_path / "whole", tmp_path / "cut")
    assert stats_without_timing(tmp_path / "whole") == stats_without_timing(tmp_path / "cut")


def test_new_minutes_on_resume_plan_the_steps_after_the_checkpoint(tmp_path, steady_clock):
    gankit.train(out=tmp_path / "r", minutes=0.01, **SMALL)
    more = gankit.train(resume=tmp_path / "r", minutes=0.02)
    assert more.step == 60 + 120
    plan = json.loads((tmp_path / "r" / "budget.json").read_text())
    assert plan["start_step"] == 60 and plan["steps"] == 180


def test_the_budget_never_exceeds_the_step_cap(tmp_path, steady_clock):
    run = gankit.train(out=tmp_path / "r", minutes=5, steps=40, **SMALL)
    assert run.step == 40


@pytest.mark.parametrize("minutes", ["-1", "nan", "0.00001"])
def test_a_budget_that_cannot_train_is_one_line(tmp_path, minutes):
    cmd = [sys.executable, "-m", "gankit", "train", "--data", "ring8", "--model", "mlp", "--no-progress",
           "--minutes", minutes, "--out", str(tmp_path / "r")]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "--minutes" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2


def test_new_steps_on_resume_extend_a_budgeted_run_without_its_budget(tmp_path, steady_clock):
    gankit.train(out=tmp_path / "r", minutes=0.01, **SMALL)
    more = gankit.train(resume=tmp_path / "r", steps=80)
    assert more.step == 80 and "minutes: null" in (tmp_path / "r" / "config.yaml").read_text()


def test_the_default_job_has_a_budget_that_a_chosen_length_overrides():
    from gankit.api import load_run_data, make_config
    from gankit.training.setup import resolve_config

    data = load_run_data(make_config(None))
    default = resolve_config(make_config(None), data)
    assert default.train.minutes == 9.0 and default.train.steps == 30000  # a cap the budget plans under
    for chosen in (dict(steps=10), dict(epochs=1)):
        assert resolve_config(make_config(None, **chosen), data).train.minutes is None
    assert resolve_config(make_config(None, minutes=2), data).train.minutes == 2


def test_a_chosen_budget_is_not_shortened_by_a_recipe_length_and_takes_the_budget_recipe():
    from gankit.api import load_run_data, make_config
    from gankit.models import MODELS
    from gankit.training.setup import BUDGET_MAX_STEPS, resolve_config

    for name in ("sngan", "biggan", "stylegan"):
        opts = dict(data="mnist", model=name, resolution=32, conditional=True)
        data = load_run_data(make_config(None, **opts))
        plain = resolve_config(make_config(None, **opts), data)
        budgeted = resolve_config(make_config(None, minutes=10, **opts), data)
        sized = resolve_config(make_config(None, minutes=10, steps=800, **opts), data)
        assert plain.train.minutes is None and plain.train.steps == 500  # the learning tests' recipe
        assert budgeted.train.steps == BUDGET_MAX_STEPS  # the budget, not 500 steps, ends the run
        assert sized.train.steps == 800 and sized.train.minutes == 10
        budget_recipe = MODELS.get(name).budget_recipe("mnist", data)
        assert budget_recipe, f"{name} has no recipe for a 10-minute mnist run"
        for key, value in budget_recipe.items():
            section, field = key.split(".")
            assert getattr(getattr(budgeted, section), field) == value, key
            # the user's --steps keeps the length-tuned recipe
            assert getattr(getattr(sized, section), field) == getattr(getattr(plain, section), field), key


def test_the_planned_run_of_a_chosen_budget_keeps_the_budget_recipe(tmp_path, monkeypatch):
    from gankit.training import budget as budget_module

    seen = {}

    def fake_plan(user_cfg, resolve, data, minutes, state=None, started=None, resolved=None):
        planned = budget_module._with_steps(user_cfg, resolve, 1200)  # the run --steps 1200 makes
        seen["cfg"] = planned
        raise SystemExit

    monkeypatch.setattr(budget_module, "plan_steps", fake_plan)
    opts = dict(data="mnist", model="stylegan", resolution=32, conditional=True, minutes=10)
    with pytest.raises(SystemExit):
        gankit.train(out=tmp_path / "r", progress=False, **opts)
    assert seen["cfg"].train.steps == 1200 and seen["cfg"].model.label_dim == 16
    with pytest.raises(SystemExit):  # a chosen length keeps the length-tuned recipe
        gankit.train(out=tmp_path / "s", progress=False, steps=800, **opts)
    assert seen["cfg"].model.label_dim == 0
