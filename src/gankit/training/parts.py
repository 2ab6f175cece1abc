"""The stateful parts the loop owns, by name: networks, their EMAs, optimiser groups and schedules.

Whatever networks a family declares, their state goes into checkpoints under one naming rule, the
one gankit 0.1 used for its G and D: network ``G`` -> ``"G"``, its EMA -> ``"G_ema"``, optimiser
group ``g`` -> ``"opt_g"`` and ``"sched_g"``.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from gankit.config import Config
from gankit.errors import GankitError
from gankit.models.base import Family, Group, Net
from gankit.training import distributed, performance
from gankit.training.adam import EagerAdam
from gankit.training.ema import EMA
from gankit.training.progress import Progress, lr_factor


def build_optimizer(
    kind: str, params, group: Group, device: torch.device, compile: bool = False
) -> torch.optim.Optimizer:
    fast = performance.fast_optimizer_kwargs(device)
    decay = {"weight_decay": group.weight_decay} if group.weight_decay else {}
    if kind == "adam" and device.type == "cpu" and not compile:
        return EagerAdam(params, lr=group.lr, betas=group.betas, **decay)
    if kind == "adam":
        return torch.optim.Adam(params, lr=group.lr, betas=group.betas, **decay, **fast)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=group.lr, foreach=device.type == "cuda", **decay)
    raise GankitError(f"unknown optimizer '{kind}'", "use adam or rmsprop")


class Parts:
    """Networks (plain modules), EMAs, optimisers and schedulers of one run."""

    def __init__(
        self, family: Family, cfg: Config, nets: dict[str, Net], device: torch.device, progress=None
    ):
        self.family, self.cfg, self.device = family, cfg, device
        self.nets = nets
        self.progress = progress if progress is not None else Progress(cfg)
        self.factor = lr_factor(cfg.optim.schedule, cfg.train.steps, self.progress)
        self.build()

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {name: net.module for name, net in self.nets.items()}

    @property
    def trained(self) -> dict[str, Net]:
        return {name: net for name, net in self.nets.items() if net.group is not None}

    def build(self) -> None:
        """(Re)build EMAs, optimisers and schedulers over the networks as they are now."""
        cfg = self.cfg
        self.emas = {
            name: EMA(net.module, cfg.optim.ema, cfg.optim.ema_start)
            for name, net in self.nets.items()
            if net.ema and cfg.optim.ema > 0
        }
        # listed once (Module.requires_grad_ walks every submodule, each phase of every step)
        self._params = {name: list(net.module.parameters()) for name, net in self.trained.items()}
        self.groups = self.family.groups(cfg)
        self.opts: dict[str, torch.optim.Optimizer] = {}
        for g, spec in self.groups.items():
            params = [p for name, net in self.trained.items() if net.group == g for p in self._params[name]]
            if params:
                self.opts[g] = build_optimizer(
                    cfg.optim.optimizer, params, spec, self.device, cfg.train.compile
                )
        self.scheds = {g: torch.optim.lr_scheduler.LambdaLR(o, self.factor) for g, o in self.opts.items()}

    def train_only(self, names: set[str]) -> None:
        """Gradients for the trained networks in ``names``, none for the others."""
        for name, params in self._params.items():
            flag = name in names
            for p in params:
                p.requires_grad_(flag)

    def params_of(self, names: tuple[str, ...]) -> list[nn.Parameter]:
        return [p for n in names for p in self.nets[n].module.parameters()]

    def wrapped(self, channels_last: bool) -> dict[str, nn.Module]:
        """The networks as the training passes call them: channels_last, compiled, DDP-wrapped; the
        plain modules stay for state dicts, EMAs and exports."""
        out = {}
        for name, net in self.nets.items():
            if channels_last:
                net.module.to(memory_format=torch.channels_last)
                if name in self.emas:
                    self.emas[name].track(net.module)
            called = performance.compile_net(net.module) if self.cfg.train.compile else net.module
            out[name] = distributed.wrap(called, self.device) if net.group is not None else called
        return out

    def update_emas(self, step: int) -> None:
        for name, ema in self.emas.items():
            ema.update(self.nets[name].module, step)

    def step_schedules(self) -> None:
        # a schedule follows the run's steps, also while its group waits (SRGAN's D in the SRResNet
        # stage): torch's warning about stepping before the optimiser does not apply
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Detected call of `lr_scheduler.step", category=UserWarning
            )
            for sched in self.scheds.values():
                sched.step()

    def set_lrs(self) -> None:
        """The config's learning rates win over saved ones (a resume or a rollback may change them)."""
        self.groups = self.family.groups(self.cfg)
        for g, opt in self.opts.items():
            sched, lr = self.scheds[g], self.groups[g].lr
            sched.base_lrs = [lr] * len(opt.param_groups)
            for group in opt.param_groups:
                group["initial_lr"], group["lr"] = lr, lr * self.factor(sched.last_epoch)

    def lrs(self) -> dict[str, float]:
        return {f"lr_{g}": s.get_last_lr()[0] for g, s in self.scheds.items()}

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for name, net in self.trained.items():
            state[name] = net.module.state_dict()
            if net.ema:
                state[f"{name}_ema"] = self.emas[name].shadow.state_dict() if name in self.emas else {}
        for g, opt in self.opts.items():
            state[f"opt_{g}"] = opt.state_dict()
            state[f"sched_{g}"] = self.scheds[g].state_dict()
        return state

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        for name, net in self.trained.items():
            net.module.load_state_dict(saved[name])
            if name in self.emas:
                self.emas[name].shadow.load_state_dict(saved[f"{name}_ema"])
        for g, opt in self.opts.items():
            opt.load_state_dict(saved[f"opt_{g}"])
            self.scheds[g].load_state_dict(saved[f"sched_{g}"])
        self.set_lrs()
