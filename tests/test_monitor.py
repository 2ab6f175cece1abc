"""Watching a run: evaluation during training, the best model, warnings, rollback on divergence."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

import gankit
from gankit.training.monitors import EventLog, Monitor, mean_pairwise_distance


def _events(run_dir) -> list[dict]:
    path = run_dir / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_diverging_run_rolls_back_lowers_the_learning_rate_and_finishes(tmp_path):
    run_dir = tmp_path / "run"
    result = gankit.train(
        data="ring8",
        model="mlp",
        steps=1500,
        out=run_dir,
        lr_g=1e25,  # absurd: NaN within a few steps
        lr_d=1e25,
        threads=1,
        overrides=["train.log_every=50", "monitor.rollback_lr_factor=1e-28", "optim.schedule=constant"],
    )
    assert result.step == 1500
    rollbacks = [e for e in _events(run_dir) if e["event"] == "rollback"]
    assert len(rollbacks) == 1
    assert rollbacks[0]["to_step"] == 0 and rollbacks[0]["lr_g"] == pytest.approx(1e-3)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["optim"]["lr_g"] == pytest.approx(1e-3)  # a later --resume keeps the lowered rate
    samples = gankit.load(run_dir).sample(2500, seed=0)
    assert samples.isfinite().all()
    modes = gankit.evaluate(run_dir, metrics=["modes_ring8"])["modes_ring8"]["modes"]
    assert modes >= 4  # it went on to learn after the rollback
    report = (run_dir / "report.html").read_text()
    assert 'class="rollback"' in report and "rolled back to step 0" in report


def test_rollbacks_are_limited_then_the_run_stops_with_its_checkpoint_intact(tmp_path):
    run_dir = tmp_path / "run"
    gankit.train(data="ring8", model="mlp", steps=20, out=run_dir, overrides=["model.width=16"])
    with pytest.raises(gankit.GankitError, match="after 2 rollbacks"):
        gankit.train(
            resume=run_dir,
            steps=300,
            lr_g=1e12,
            lr_d=1e12,
            overrides=["train.log_every=5", "monitor.max_rollbacks=2"],
        )
    assert sum(e["event"] == "rollback" for e in _events(run_dir)) == 2
    assert gankit.load(run_dir).sample(10).isfinite().all()


def test_eval_every_logs_metrics_and_keep_best_keeps_the_best(tmp_path):
    run_dir = tmp_path / "run"
    gankit.train(
        data="ring8",
        model="mlp",
        steps=1200,
        out=run_dir,
        threads=1,
        overrides=["monitor.eval_every=200", "monitor.keep_best=modes_ring8.high_quality"],
    )
    records = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    evals = [
        (r["step"], r["eval/modes_ring8/high_quality"])
        for r in records
        if "eval/modes_ring8/high_quality" in r
    ]
    assert [s for s, _ in evals] == [200, 400, 600, 800, 1000, 1200]
    best_step, best_value = max(evals, key=lambda e: (e[1], -e[0]))
    best = json.loads((run_dir / "best" / "best.json").read_text())
    assert (best["step"], best["value"]) == (best_step, best_value)
    # the saved best model reproduces its score (same seed, same protocol, same sample count)
    again = gankit.evaluate(run_dir / "best", metrics=["modes_ring8"], n=2500, record=False)
    assert again["modes_ring8"]["high_quality"] == best_value


def test_keep_best_needs_evaluations(tmp_path):
    with pytest.raises(gankit.GankitError, match="eval"):
        gankit.train(
            data="ring8",
            model="mlp",
            steps=10,
            out=tmp_path / "r",
            overrides=["monitor.eval_every=0", "monitor.keep_best=modes_ring8"],
        )


# ---------------------------------------------------------------------------------- the monitors


def test_discriminator_win_warns_once_after_enough_ticks():
    m = Monitor(probabilistic=True, real_diversity=1.0, collapse_ticks=3)
    won = {"D(x)": 0.999, "D(G(z))": 0.001}
    assert m.check(won) == [] and m.check(won) == []
    started = m.check(won)
    assert len(started) == 1 and started[0].startswith("discriminator_wins")
    assert m.check(won) == []  # still active: not repeated
    assert m.check({"D(x)": 0.6, "D(G(z))": 0.4}) == [] and not m.active


def test_critic_scores_are_not_read_as_probabilities():
    m = Monitor(probabilistic=False, real_diversity=1.0, collapse_ticks=1)
    assert m.check({"D(x)": 5.0, "D(G(z))": -5.0}) == []


def test_exploding_gradients_and_class_collapse_warn():
    m = Monitor(probabilistic=True, real_diversity=1.0)
    for _ in range(4):
        assert m.check({"grad_norm/D": 1.0}) == []
    assert m.check({"grad_norm/D": 100.0})[0].startswith("exploding_gradients")
    # slow growth (x1.1 per tick, x100 over the run) is a sharpening discriminator, not an explosion
    slow = Monitor(probabilistic=True, real_diversity=1.0)
    assert all(slow.check({"grad_norm/G": 1.1**i}) == [] for i in range(50))
    # the game engaging after a quiet start (grid25: 0.2 -> 7 over 8 ticks) is not an explosion
    engaging = Monitor(probabilistic=True, real_diversity=1.0)
    ramp = [0.2] * 10 + [0.7, 2.1, 1.2, 1.7, 2.5, 2.4, 1.9, 7.4, 9.6]
    assert all(engaging.check({"grad_norm/G": v}) == [] for v in ramp)
    shares = {"fd_classifier_5k": {"class_shares": [0.91] + [0.01] * 9}}
    assert m.check({}, eval_results=shares)[0].startswith("class_collapse")
    even = {"fd_classifier_5k": {"class_shares": [0.1] * 10}}
    assert m.check({}, eval_results=even) == [] and "class_collapse" not in m.active


def test_low_diversity_warns_against_real_and_own_best():
    m = Monitor(probabilistic=True, real_diversity=1.0)
    assert m.check({}, diversity=0.9) == []
    assert m.check({}, diversity=0.2)[0].startswith("low_diversity")
    g = torch.Generator().manual_seed(0)
    spread, collapsed = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g) * 0.01
    assert mean_pairwise_distance(collapsed) < 0.05 * mean_pairwise_distance(spread)


def test_a_resume_drops_the_events_it_will_meet_again_but_keeps_rollbacks(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")
    log.write(5, "warning", message="early")
    log.write(12, "rollback", message="loss was nan", to_step=8)  # happened: the checkpoint holds its effect
    log.write(10, "best", message="kept")
    log.write(15, "warning", message="after the checkpoint")
    with log.path.open("a") as f:
        f.write('{"step": 16, "event": "rollb')  # a line torn by a kill
    log.truncate_after(10)
    assert [(e["step"], e["event"]) for e in log.read()] == [(5, "warning"), (12, "rollback"), (10, "best")]
