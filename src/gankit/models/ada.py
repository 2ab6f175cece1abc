"""Adaptive discriminator augmentation (ADA; Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data"), for the standard game (models/adversarial.py) of every image family.

Everything D sees, real and fake, goes through DiffAugment's differentiable ops (training/augment.py),
each applied to a sample with probability p. p starts at 0 and is steered by the overfitting
heuristic r_t = E[sign(D(x_real))] over the reals of the last ``loss.ada_interval`` steps: above
``loss.ada_target`` (D is sure of the reals it has seen: it memorises them) p rises, below it falls,
by at most 1 per ``loss.ada_kimg`` thousand real images. Below p ~ 0.8 the augmentations do not leak
into G's samples (the paper's sec. 2.3): D learns the augmented distribution, G the clean one.

The rule runs on the device (p is a tensor, updated with tensor ops: no host sync in a step); p,
the window's signs and its position are objective state, saved in checkpoints, so a resumed run
augments exactly as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gankit.errors import GankitError, did_you_mean
from gankit.training.augment import AUGMENTS, parse_policy

# ADA's own pipeline is geometric + colour ("bgc"); DiffAugment's translation and colour are the
# nearest of its ops. Cutout can be added: loss.augment=ada,translation,color,cutout
DEFAULT_OPS = ("translation", "color")


def parse_augment(policy: str | None) -> tuple[list[str], bool]:
    """(ops, adaptive) of ``loss.augment``: a DiffAugment policy ("translation,cutout"), or "ada"
    alone (ADA over :data:`DEFAULT_OPS`) or with its ops ("ada,translation,cutout")."""
    names = [p.strip() for p in (policy or "none").split(",") if p.strip() and p.strip() != "none"]
    adaptive = "ada" in names
    names = [n for n in names if n != "ada"]
    for name in names:
        if name not in AUGMENTS:
            raise GankitError(f"unknown augmentation '{name}'", did_you_mean(name, [*AUGMENTS, "ada"]))
    if adaptive and not names:
        names = list(DEFAULT_OPS)
    return parse_policy(",".join(names)), adaptive


class AdaptiveAugment:
    """p, the ops applied with it, and the rule that moves it (one instance per run)."""

    def __init__(
        self,
        ops: list[str],
        target: float = 0.6,
        kimg: float = 100.0,
        interval: int = 4,
        batch_size: int = 64,
        device: torch.device | str = "cpu",
    ):
        if not 0 < target < 1:
            raise GankitError(f"loss.ada_target={target} must be in (0, 1)", "ADA's default is 0.6")
        if not kimg > 0 or interval < 1:
            raise GankitError(
                "loss.ada_kimg must be > 0 and loss.ada_interval >= 1", "e.g. ada_kimg=100, ada_interval=4"
            )
        self.ops, self.target, self.interval = ops, target, interval
        # images seen between two adjustments / images over which p may move by 1
        self.speed = batch_size * interval / (kimg * 1000)
        self.p = torch.zeros((), device=device)
        self.signs = torch.zeros((), device=device)  # sum of sign(D(x_real)) in this window
        self.count = 0  # reals scored in this window
        self.window = 0  # step // interval of the window being gathered

    def __call__(self, x: Tensor, g: torch.Generator | None) -> Tensor:
        """Each op on each image with probability p (images only; points pass through)."""
        if x.ndim != 4:
            return x
        for name in self.ops:
            # every op is computed for the whole batch and kept where the draw says: the same random
            # numbers are consumed whatever p is, so a run's stream does not depend on p
            apply = torch.rand(len(x), generator=g, device=x.device) < self.p
            x = torch.where(apply.view(-1, 1, 1, 1), AUGMENTS[name](x, g), x)
        return x

    def observe(self, real_scores: Tensor, step: int) -> None:
        """Gather D's scores of the (augmented) reals; at the first scores of a new window, adjust p
        from the previous window's."""
        window = step // self.interval
        if window != self.window:
            self.adjust()
            self.window = window
        self.signs = self.signs + real_scores.detach().float().sign().sum()
        self.count += real_scores.numel()

    def adjust(self) -> None:
        if self.count:
            signs, count = self.signs, self.count
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                signs = signs.clone()  # every rank moves p by the global batch's r_t
                torch.distributed.all_reduce(signs)
                count *= torch.distributed.get_world_size()
            r_t = signs / count
            self.p = (self.p + torch.sign(r_t - self.target) * self.speed).clamp(0.0, 1.0)
        self.signs = torch.zeros_like(self.signs)
        self.count = 0

    def state_dict(self) -> dict[str, Any]:
        return {"p": self.p.clone(), "signs": self.signs.clone(), "count": self.count, "window": self.window}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.p.device
        self.p, self.signs = state["p"].to(device).clone(), state["signs"].to(device).clone()
        self.count, self.window = int(state["count"]), int(state["window"])
