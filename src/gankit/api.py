"""The public Python API: train, load, evaluate, and the registries' listings."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gankit.config import Config, apply_overrides, set_value
from gankit.errors import GankitError

# keyword shortcuts: train(data=..., model=..., loss=...) name data.name, model.name, loss.name
_NAMED = {"data": "data.name", "model": "model.name", "loss": "loss.name"}


def make_config(
    config: Config | dict | str | Path | None = None, overrides: list[str] | None = None, **options: Any
) -> Config:
    """A config from a Config, a dict, a YAML path or nothing, then keyword options and key=value strings."""
    if config is None:
        cfg = Config()
    elif isinstance(config, Config):
        cfg = config
    elif isinstance(config, dict):
        cfg = Config.from_dict(config)
    else:
        cfg = Config.load_yaml(config)
    for key, value in options.items():
        if value is not None:
            set_value(cfg, _NAMED.get(key, key), value, source="option")
    return apply_overrides(cfg, overrides or [])


def train(
    config: Config | dict | str | Path | None = None,
    *,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    resume: str | Path | None = None,
    overrides: list[str] | None = None,
    progress: bool = False,
    callbacks: list | None = None,
    real_data: Any = None,
    **options: Any,
):
    """Train a GAN and return a :class:`~gankit.training.loop.RunResult` (``.run_dir``, ``.model_dir``).

    ``gankit.train()`` trains the default job (see the README); keyword options set config fields by
    name, e.g. ``train(data="ring8", model=NAME, steps=2000, out="runs/ring")`` (``gankit models``).
    ``resume=RUN_DIR`` continues a run exactly where its last checkpoint left it. ``real_data``
    passes data already in memory (e.g. a table prepared by the table synthesizer's ``fit``)
    instead of loading what ``data.name`` names.
    Under ``torchrun`` (WORLD_SIZE > 1) every process calls this; they train one model with DDP
    and rank 0 alone writes the run directory (see training/distributed.py).
    """
    from gankit.training import distributed

    started = distributed.setup()
    try:
        return _train(config, out, runs_dir, resume, overrides, progress, callbacks, options, real_data)
    finally:
        if started:
            distributed.teardown()


def load_run_data(cfg: Config):
    """The data a config names, loaded by its family when one is chosen (a table family reads a
    table), else as images or points."""
    if cfg.model.name is not None:
        from gankit.models import MODELS

        return MODELS.get(cfg.model.name).load_data(cfg)
    from gankit.data import load_data

    return load_data(cfg.data)


def _train(config, out, runs_dir, resume, overrides, progress, callbacks, options, data=None):
    from gankit.training import distributed
    from gankit.training.budget import Budget, elapsed_since, plan_steps
    from gankit.training.loop import run
    from gankit.training.rundir import claim_out_dir, new_run_dir
    from gankit.training.setup import budget_sets_length, resolve_config

    if resume is not None:
        return _resume(Path(resume), overrides, progress, callbacks, options, data)
    cfg = make_config(config, overrides, **options)
    data = load_run_data(cfg) if data is None else data
    started, plan = time.perf_counter(), None  # a budget's clock: from the data in memory on
    resolved = resolve_config(cfg, data)
    if resolved.train.minutes:  # a wall-clock budget (the user's or the recipe's): plan the steps here
        # the planned run resolves with --steps N: it keeps the family's budget recipe when the
        # user's budget, not a length, set it
        budget_length = budget_sets_length(cfg)
        resolve = lambda c: resolve_config(c, data, budget_length)  # noqa: E731
        cfg, plan = plan_steps(cfg, resolve, data, resolved.train.minutes, None, started, resolved)
    else:
        cfg = resolved
    run_dir = distributed.from_main(  # rank 0 creates it, the other ranks learn its path
        lambda: (
            claim_out_dir(Path(out))
            if out is not None
            else new_run_dir(Path(runs_dir), cfg.model.name, cfg.data.name)
        )
    )
    if distributed.is_main():
        _record(run_dir, cfg, plan, data)
    budget = Budget(plan, elapsed_since(started)) if plan is not None else None
    result = run(cfg, data, run_dir, progress=progress, callbacks=callbacks, budget=budget)
    return _finish(result, started if plan is not None else None)


def _resume(run_dir: Path, overrides, progress, callbacks, options, data):
    from gankit.training import distributed
    from gankit.training.budget import Budget, elapsed_since, read_plan
    from gankit.training.checkpoint import load_latest_good
    from gankit.training.loop import run
    from gankit.training.setup import pick_device, resolve_config

    if not (run_dir / "config.yaml").is_file():
        raise GankitError(
            f"{run_dir} is not a gankit run directory (no config.yaml)",
            "pass the directory that `gankit train` created",
        )
    saved = Config.load_yaml(run_dir / "config.yaml")
    cfg = make_config(saved, overrides, **options)
    # the newest checkpoint that loads; none yet (killed before the first): the run starts over
    state = load_latest_good(run_dir, pick_device(cfg.train.device))
    data = load_run_data(cfg) if data is None else data
    started = time.perf_counter()  # a budget's clock: from the data in memory on, as for a new run
    cfg = resolve_config(cfg, data)
    if _given("steps", options, overrides) and not _given("minutes", options, overrides):
        cfg.train.minutes = None  # a new length in steps: the time budget no longer applies
    plan = read_plan(run_dir) if cfg.train.minutes else None
    if state is None:
        if distributed.is_main():
            cfg.save_yaml(run_dir / "config.yaml")
        budget = Budget(plan, 0.0) if plan is not None else None
        result = run(cfg, data, run_dir, progress=progress, callbacks=callbacks, budget=budget)
        return _finish(result, started if budget is not None else None)
    if not same_model(state["config"]["model"], cfg) or not same_data(state["config"]["data"], cfg):
        raise GankitError(
            f"the checkpoint in {run_dir} was trained with another model or data config",
            "resume without changing model.* or data.* settings",
        )
    used = state.get("budget", {}).get("used_s", 0.0)  # the minutes it had spent when saved
    if _given("minutes", options, overrides):  # a new budget for the steps after the checkpoint
        cfg, plan = _replan(saved, overrides, options, run_dir, data, state, started)
        state["progress"] = {**state.get("progress", {}), "steps": cfg.train.steps}
        used = elapsed_since(started)
    if state["step"] >= cfg.train.steps:
        if not (run_dir / "report.html").is_file():  # killed after its last checkpoint, before its
            return _finish(run(cfg, data, run_dir, state, progress=False))  # report: export, report
        raise GankitError(
            f"{run_dir} already finished its {state['step']} steps", "raise --steps to train it further"
        )
    if distributed.is_main():
        _record(run_dir, cfg, plan)
    budget = Budget(plan, used) if plan is not None else None
    result = run(cfg, data, run_dir, state, progress=progress, callbacks=callbacks, budget=budget)
    return _finish(result, started if budget is not None else None)


def _record(run_dir: Path, cfg: Config, plan, data=None) -> None:
    """config.yaml, the machine this session trains on (machine.json), a budget's plan, and the input
    files the data loader had to skip (skipped.txt)."""
    from gankit.machine import describe
    from gankit.training.budget import write_plan
    from gankit.training.performance import pick_device

    cfg.save_yaml(run_dir / "config.yaml")
    info = describe(pick_device(cfg.train.device))
    if cfg.train.threads:
        info["threads"] = cfg.train.threads
    (run_dir / "machine.json").write_text(json.dumps(info, indent=2) + "\n")
    if plan is not None:
        write_plan(run_dir, plan)
    skipped = getattr(data, "info", {}).get("skipped")
    if skipped:
        (run_dir / "skipped.txt").write_text("".join(f"{line}\n" for line in skipped))


def _given(field: str, options: dict[str, Any], overrides: list[str] | None) -> bool:
    """Was train.<field> given for this resume (not only recorded in the run's config.yaml)?"""
    given = options.get(field) is not None or options.get(f"train.{field}") is not None
    return given or any(o.split("=", 1)[0].strip() == f"train.{field}" for o in overrides or [])


def _replan(saved: Config, overrides, options, run_dir: Path, data, state, started: float):
    """The config and plan of a resumed run given new --minutes: as many steps after the checkpoint
    as fit, capped by --steps when given, else by the original plan's cap (no cap without one)."""
    from gankit.training.budget import plan_steps
    from gankit.training.setup import resolve_config

    cfg = make_config(saved, overrides, **options)
    if not _given("steps", options, overrides):
        recorded = run_dir / "budget.json"
        cap = json.loads(recorded.read_text()).get("cap", 0) if recorded.is_file() else 0
        cfg.train.steps = cap if cap > state["step"] else 10**9
    return plan_steps(cfg, lambda c: resolve_config(c, data), data, cfg.train.minutes, state, started)


def same_model(saved: dict[str, Any], cfg: Config) -> bool:
    """Does a checkpoint's model section describe the model ``cfg`` builds? Both are read through the
    family, so a field added since the checkpoint was written takes the value it was built with."""
    from gankit.models.base import model_view

    return vars(model_view(saved)) == vars(model_view(cfg.model))


def same_data(saved: dict[str, Any], cfg: Config) -> bool:
    from dataclasses import asdict

    from gankit.config import DataConfig

    return {**asdict(DataConfig()), **saved} == cfg.to_dict()["data"]


def _finish(result, started: float | None = None):
    from gankit.report import write_report
    from gankit.training import distributed
    from gankit.training.budget import record_end

    if distributed.is_main():
        if started is not None:  # a budgeted run: what it took, beside its plan
            record_end(result.run_dir, time.perf_counter() - started, result.step)
        write_report(result.run_dir)
    return result


def load(path: str | Path, device: str = "cpu"):
    """Load a trained model from a run or model directory, as the object its task calls for: a
    generator (:class:`~gankit.pretrained.GAN`, ``gankit.load(dir).sample(16, seed=0)``) or a table
    synthesizer (``.sample(1000)`` rows): the family that exported it says which."""
    from gankit.pretrained import family_of_export, find_model_dir, read_config

    directory = find_model_dir(path)
    return family_of_export(read_config(directory)).load_model(directory, device)


def _real_data_for(meta: dict[str, Any]):
    from gankit.config import DataConfig
    from gankit.data import DATASETS, load_data

    name = meta["data"]["name"]
    if name in DATASETS or Path(name).exists():
        return load_data(DataConfig(name=name, resolution=meta["data"].get("resolution")))
    return None


def evaluate(
    path: str | Path,
    metrics: list[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    record: bool = True,
    extractor: str | None = None,
) -> dict[str, Any]:
    """Compute metrics of a trained model (by default every one that applies) and, with ``record``,
    append them to the run's metrics.jsonl. ``extractor`` overrides the features every metric uses
    (``classifier:<dataset>``, ``random`` or ``inception``)."""
    from gankit.metrics import EvalContext
    from gankit.metrics.evaluation import compute_metrics, select_metrics
    from gankit.pretrained import GAN, find_model_dir, read_config, task_of

    if task_of(read_config(find_model_dir(path))) == "translate":  # held-out pairs, beside baselines
        from gankit.translation.evaluation import evaluate_translator

        results = evaluate_translator(path, device)
    else:
        gan = GAN.from_pretrained(path, device=device)  # generators; a table model has its own evaluate
        ctx = EvalContext.for_model(gan, _real_data_for(gan.meta), seed, extractor)
        results = compute_metrics(ctx, select_metrics(ctx, metrics), n)
    if record:
        model_dir = find_model_dir(path)
        target = model_dir.parent if model_dir.name == "model" else model_dir
        with (target / "metrics.jsonl").open("a") as f:
            f.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "results": results}) + "\n")
        if (target / "config.yaml").exists():
            from gankit.report import write_report

            write_report(target)  # the report shows the new results
    return results


def compare(
    real: str | Path,
    fake: str | Path,
    metrics: list[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    extractor: str | None = None,
) -> dict[str, Any]:
    """Metrics between two sample sets on disk (image folders, .npy or .npz), no model needed.

    Real class sub-folders (or an .npz ``labels`` array) make the classifier metrics available;
    otherwise the images are compared in ``random`` features unless ``extractor`` says otherwise.
    """
    from gankit.config import DataConfig
    from gankit.data import load_data
    from gankit.metrics import EvalContext
    from gankit.metrics.evaluation import compute_metrics, select_metrics

    real_data = load_data(DataConfig(name=str(real)))
    resolution = real_data.shape[-1] if real_data.kind == "images" else None
    fake_data = load_data(DataConfig(name=str(fake), resolution=resolution))
    if fake_data.shape != real_data.shape:
        raise GankitError(
            f"the fake samples have shape {fake_data.shape}, the real ones {real_data.shape}",
            "compare samples of the same kind, size and channels",
        )
    meta = {
        "kind": real_data.kind,
        "shape": list(real_data.shape),
        "num_classes": real_data.num_classes,
        "model": {"conditional": False},
        "data": {"name": str(real), **{k: v for k, v in real_data.info.items() if k in ("centres", "std")}},
    }
    given = (fake_data.all_x.float().cpu(), None)
    ctx = EvalContext(meta, real_data, given=given, seed=seed, extractor_spec=extractor)
    count = n or len(fake_data)
    return compute_metrics(ctx, select_metrics(ctx, metrics), count)


def list_datasets() -> list[dict[str, Any]]:
    from gankit.data import DATASETS

    return [
        {
            "name": s.name,
            "shape": s.shape,
            "size": s.size,
            "classes": s.num_classes,
            "model": s.default_model,
            "description": s.description,
        }
        for _, s in DATASETS.items()
    ]


def list_models() -> list[dict[str, str]]:
    from gankit.models import MODELS

    return [{"name": f.name, "task": f.task, "description": f.description} for _, f in MODELS.items()]


def describe_model(name: str) -> dict[str, Any]:
    """A family's name, task, description, networks (when it names them up front) and options."""
    from gankit.models import MODELS
    from gankit.models.base import describe_options, shared_option_names

    family = MODELS.get(name)
    return {
        "name": family.name,
        "task": family.task,
        "description": family.description,
        "networks": list(getattr(family, "network_names", ())),
        "options": describe_options(family),
        "shared": shared_option_names(),
    }


def list_losses() -> list[dict[str, str]]:
    from gankit.losses import LOSSES

    return [{"name": x.name, "description": x.description} for _, x in LOSSES.items()]
