"""From a config and data to a resolved run config: the family, its recipes, defaults, validation."""

from __future__ import annotations

import math

from gankit.config import DEFAULTS, Config, copy_config, merge_missing
from gankit.data import DATASETS, RealData
from gankit.errors import GankitError
from gankit.losses import LOSSES
from gankit.models import MODELS
from gankit.models.base import Family, Net, resolve_options
from gankit.training import performance
from gankit.training.parts import build_optimizer, lr_factor  # noqa: F401  (gankit 0.1's names)
from gankit.training.performance import pick_device

# the most steps a --minutes budget plans when the user gave no --steps (a guard, not a length)
BUDGET_MAX_STEPS = 1_000_000


def budget_sets_length(cfg: Config) -> bool:
    """The user gave ``--minutes`` and no ``--steps``/``--epochs``: the budget alone sets the length."""
    t = cfg.train
    return t.minutes is not None and t.steps is None and t.epochs is None


def resolve_config(cfg: Config, data, budget_length: bool = False) -> Config:
    """Fill every auto field: user settings > the loss's recommendations > the family's recipe for the
    dataset > the dataset's own recipe > defaults (shared ones here, the family's in its options)."""
    cfg = copy_config(cfg)
    spec = DATASETS.get(cfg.data.name) if cfg.data.name in DATASETS else None
    if cfg.model.name is None:
        cfg.model.name = spec.default_model if spec is not None else default_family(data).name
    family = MODELS.get(cfg.model.name)
    reason = family.check_shape(data.shape)
    if reason:
        raise GankitError(f"model '{family.name}' can't model data of shape {data.shape}: {reason}")
    loss = LOSSES.get(cfg.loss.name)
    t = cfg.train
    chosen_length = t.minutes is None and (t.steps is not None or t.epochs is not None)
    # budget_length: the user's --minutes set the length and this is its planned run (--steps N)
    chosen_budget = budget_length or budget_sets_length(cfg)
    merge_missing(cfg, loss.recommended)
    if chosen_budget:  # --minutes alone: the family's recipe for a run as long as the machine affords,
        # and no recipe's step count (the length of a run without a budget) shortens the budget
        merge_missing(cfg, {**family.budget_recipe(cfg.data.name, data), "train.steps": BUDGET_MAX_STEPS})
    merge_missing(cfg, family.recipe(cfg.data.name, data))
    if spec is not None:
        merge_missing(cfg, spec.recipes.get(family.name, {}))
    merge_missing(cfg, DEFAULTS)
    if chosen_length:  # --steps/--epochs the user chose are not shortened by a recipe's time budget
        cfg.train.minutes = None
    options = resolve_options(cfg, family)
    if cfg.optim.optimizer == "auto":
        cfg.optim.optimizer = loss.recommended.get("optim.optimizer", "adam")
    family.resolve(cfg, data)
    if cfg.model.conditional and data.labels is None:
        raise GankitError(
            f"dataset '{data.name}' has no labels, so it can't train a conditional model",
            "drop --conditional, or use class sub-folders / a 'labels' array",
        )
    for message in family.validate(options, cfg):
        raise GankitError(f"invalid config: {message}", "fix the value in --config or --set")
    if cfg.train.channels_last is None:  # NHWC for the convolutional families
        cfg.train.channels_last = data.kind == "images" and family.convolutional
    device = pick_device(cfg.train.device)
    if cfg.train.memory_budget_mb is None:
        cfg.train.memory_budget_mb = int(performance.memory_budget_mb(cfg, device))
    if cfg.train.batch_size == "auto":  # the largest batch that fits the memory budget
        from gankit.training.memory import auto_batch_size

        cfg.train.batch_size = auto_batch_size(cfg, data, device)
    performance.check_precision(cfg.train.precision, device)
    if cfg.model.pack > 1 and cfg.train.batch_size % cfg.model.pack:
        raise GankitError(
            f"train.batch_size={cfg.train.batch_size} is not a multiple of model.pack={cfg.model.pack}",
            "make the batch size a multiple of the pack size",
        )
    t = cfg.train
    if t.epochs is not None:
        if t.epochs < 1:
            raise GankitError(f"train.epochs={t.epochs} trains nothing", "use 1 or more epochs")
        t.steps = t.epochs * family.steps_per_epoch(cfg, data)
    # ten grids and four checkpoints a run, but at least 50 steps apart: each builds an export (batch-
    # norm statistics recomputed over generated batches), which costs more than a short run's steps
    if t.sample_every is None:
        t.sample_every = max(t.steps // 10, min(t.steps, 50))
    if t.checkpoint_every is None:
        t.checkpoint_every = max(t.steps // 4, min(t.steps, 50))
    _resolve_monitor(cfg, data)
    _validate(cfg)
    return cfg


def default_family(data) -> Family:
    """The family of the highest priority among those that model this data."""
    fits = [f for _, f in MODELS.items() if data.kind in f.data_kinds and f.check_shape(data.shape) is None]
    if not fits:
        raise GankitError(f"no model family models {data.kind} of shape {data.shape}", "see `gankit models`")
    return max(fits, key=lambda f: f.priority)


def _resolve_monitor(cfg: Config, data: RealData) -> None:
    from gankit.metrics.evaluation import parse_target

    m = cfg.monitor
    if m.eval_every is None:
        # ten evaluations a run, but never more often than every 500 steps: cheap metrics take
        # about a second, which is < 2% of 500 CPU steps of the smallest models
        m.eval_every = max(500, cfg.train.steps // 10) if cfg.train.steps >= 500 else 0
    if m.metrics is None:
        m.metrics = headline_metric(data)
    if m.keep_best in (None, ""):
        m.keep_best = "none"
    names = [n.strip() for n in (m.metrics or "").split(",") if n.strip()]
    chosen = [parse_target(name)[0] for name in names]  # unknown names fail now, not mid-run
    if m.eval_n is None:
        m.eval_n = max([c.cheap_n or c.default_n for c in chosen], default=1000)
    if m.keep_best != "none":
        metric, _, _ = parse_target(m.keep_best)
        if metric.name not in names:
            m.metrics = ",".join([*names, metric.name])
        if not m.eval_every:
            raise GankitError(
                "--keep-best needs evaluations during training, but monitor.eval_every is 0",
                "set --eval-every N",
            )


def headline_metric(data: RealData) -> str:
    """The cheap metric that says most about this data: modes for toy sets, else an image FD."""
    if "centres" in data.info:
        return f"modes_{data.name}"
    if data.kind != "images":
        return ""
    if data.info.get("stacked"):
        return "modes_stacked_mnist"
    return "fd_classifier_5k" if data.labels is not None and data.num_classes >= 2 else "fd_random_5k"


def _validate(cfg: Config) -> None:
    checks = [
        (cfg.train.steps >= 1, "train.steps must be >= 1"),
        (cfg.train.batch_size >= 1, "train.batch_size must be >= 1"),
        (cfg.optim.lr_g > 0 and cfg.optim.lr_d > 0, "learning rates must be > 0"),
        (math.isfinite(cfg.optim.lr_g) and math.isfinite(cfg.optim.lr_d), "learning rates must be finite"),
        (0.0 <= cfg.optim.ema < 1.0, "optim.ema must be in [0, 1) (0 turns it off)"),
        (cfg.optim.n_critic >= 1, "optim.n_critic must be >= 1"),
        (cfg.model.pack >= 1, "model.pack must be >= 1"),
        (cfg.model.mbstd >= 0, "model.mbstd must be >= 0 (0 turns it off)"),
        (cfg.loss.r1 >= 0 and cfg.loss.r2 >= 0, "loss.r1 and loss.r2 must be >= 0"),
        (cfg.loss.reg_every >= 1, "loss.reg_every must be >= 1 (1: R1/R2 on every step)"),
        (cfg.model.latent_dim >= 1, "model.latent_dim must be >= 1"),
        (0.0 <= cfg.loss.label_smoothing < 1.0, "loss.label_smoothing must be in [0, 1)"),
        (
            cfg.loss.instance_noise >= 0 and cfg.loss.gp_weight >= 0 and cfg.loss.clip > 0,
            "loss.instance_noise and gp_weight must be >= 0, clip > 0",
        ),
        (
            cfg.train.log_every >= 1 and cfg.train.sample_every >= 1 and cfg.train.checkpoint_every >= 1,
            "train.log_every, sample_every and checkpoint_every must be >= 1",
        ),
        (cfg.monitor.eval_every >= 0, "monitor.eval_every must be >= 0 (0 turns it off)"),
        (cfg.monitor.max_rollbacks >= 0, "monitor.max_rollbacks must be >= 0"),
        (0 < cfg.monitor.rollback_lr_factor <= 1, "monitor.rollback_lr_factor must be in (0, 1]"),
    ]
    for ok, message in checks:
        if not ok:
            raise GankitError(f"invalid config: {message}", "fix the value in --config or --set")


def build_networks(cfg: Config, data) -> dict[str, Net]:
    """The family's named networks for a resolved config, initialised from the global RNG."""
    return MODELS.get(cfg.model.name).networks(cfg, data)
