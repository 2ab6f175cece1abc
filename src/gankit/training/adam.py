"""torch's fused Adam, minus the compiler import its methods make on a machine that never compiles.

``torch.optim.Optimizer``'s constructor, ``step``, ``zero_grad`` and state-dict methods are each
wrapped to keep ``torch.compile`` out of them, and those wrappers import ``torch._dynamo`` on their
first call: 1.5 s on a two-core AVX2 machine, a sixth of a whole table fit (start-up, fit, sample)
that ends in under ten seconds. ``EagerAdam`` calls the undecorated bodies of the same methods and
the same fused kernel with the same arguments, so it computes bit for bit what ``torch.optim.Adam(...,
fused=True)`` computes and its state dict is torch's (checkpoints move between the two). Anything it
was not built for (AMSGrad, maximize, a closure, mixed devices or dtypes) takes torch's own path.
The loop uses it on CPU without ``--compile``; compiling imports the compiler anyway.
"""

from __future__ import annotations

import torch
from torch.optim import Adam, Optimizer


def _undecorated(method):
    return getattr(method, "__wrapped__", method)


class EagerAdam(Adam):
    def __init__(self, params, **kwargs):
        super().__init__(params, fused=True, **kwargs)

    def add_param_group(self, param_group) -> None:
        _undecorated(Optimizer.add_param_group)(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _undecorated(Optimizer.zero_grad)(self, set_to_none)

    def state_dict(self):
        return _undecorated(Optimizer.state_dict)(self)

    def load_state_dict(self, state_dict) -> None:
        _undecorated(Optimizer.load_state_dict)(self, state_dict)

    def _is_plain(self, group: dict, params: list[torch.Tensor]) -> bool:
        flags = ("amsgrad", "maximize", "capturable", "differentiable", "decoupled_weight_decay")
        if any(group.get(f) for f in flags) or torch.is_tensor(group["lr"]):
            return False
        kinds = {(p.device, p.dtype) for p in params}
        return len(kinds) == 1 and not any(p.grad.is_sparse or p.is_complex() for p in params)

    def step(self, closure=None):
        groups = [(g, [p for p in g["params"] if p.grad is not None]) for g in self.param_groups]
        if closure is not None or not all(self._is_plain(g, ps) for g, ps in groups if ps):
            return super().step(closure)
        with torch.no_grad():
            for group, params in groups:
                if params:
                    self._fused_step(group, params)
        return None

    def _fused_step(self, group: dict, params: list[torch.Tensor]) -> None:
        states = [self.state[p] for p in params]
        for p, state in zip(params, states, strict=True):
            if not state:  # torch's lazy initialisation for fused Adam, same dtypes and devices
                state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        torch._fused_adam_(
            params,
            [p.grad for p in params],
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            steps,
            amsgrad=False,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=False,
            grad_scale=None,
            found_inf=None,
        )
