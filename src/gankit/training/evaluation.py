"""Evaluation during training (``--eval-every``) and keeping the best model (``--keep-best``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit import durable
from gankit.config import Config
from gankit.data import RealData
from gankit.errors import GankitError
from gankit.metrics.base import EvalContext
from gankit.metrics.evaluation import compute_metrics, headline, parse_target
from gankit.pretrained import GAN, save_pretrained


class TrainingEvaluator:
    """Computes the monitor's metrics on the current sampling generator at cheap sample counts.

    One EvalContext lives for the whole run, so the feature extractor and the real features are
    computed once; only the generated samples change from one evaluation to the next.
    """

    def __init__(self, cfg: Config, data: RealData, meta: dict[str, Any], run_dir: Path):
        m = cfg.monitor
        names = [n.strip() for n in (m.metrics or "").split(",") if n.strip()]
        self.metrics = [parse_target(n)[0] for n in names]
        self.n = m.eval_n
        self.ctx = EvalContext(meta, data, seed=cfg.train.seed)
        for metric in self.metrics:
            if not metric.applies(self.ctx):
                raise GankitError(
                    f"metric '{metric.name}' does not apply to dataset '{data.name}'",
                    "pick another with --set monitor.metrics=... (see `gankit metrics`)",
                )
        self.best_dir = run_dir / "best"
        self.best = parse_target(m.keep_best) if m.keep_best not in (None, "none") else None
        self.best_value: float | None = None
        durable.heal_dir(self.best_dir)
        if self.best is not None and (self.best_dir / "best.json").exists():  # a resumed run
            self.best_value = json.loads((self.best_dir / "best.json").read_text())["value"]

    def __call__(self, generator: nn.Module, device: torch.device) -> tuple[dict[str, Any], dict[str, float]]:
        """(full results, flat ``eval/<metric>/<key>`` scalars for stats.jsonl)."""
        gan = GAN(generator, self.ctx.meta, device)
        self.ctx.sample = lambda n: gan.sample(n, seed=self.ctx.seed, raw=True, return_labels=True)
        self.ctx.new_fakes()
        results = compute_metrics(self.ctx, self.metrics, self.n, cheap=True)
        flat = {
            f"eval/{name}/{key}": float(v)
            for name, result in results.items()
            for key, v in result.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        return results, flat

    def keep_if_best(self, results: dict[str, Any], generator: nn.Module, step: int) -> dict | None:
        """Save the generator to best/ when the chosen metric improved; returns the record if so."""
        if self.best is None:
            return None
        metric, key, direction = self.best
        value = headline(results, metric, key)
        if value is None:
            return None
        better = self.best_value is None or (
            value < self.best_value if direction == "min" else value > self.best_value
        )
        if not better:
            return None
        self.best_value = value
        record = {"step": step, "metric": metric.name, "key": key, "value": value}
        with durable.replace_dir(self.best_dir) as staged:  # the previous best stays whole until then
            save_pretrained(staged, generator, self.ctx.meta)
            durable.write_text(staged / "best.json", json.dumps(record, indent=2) + "\n")
        return record
