"""Multi-process training on PyTorch's own engine: torchrun + DistributedDataParallel.

``torchrun --nproc_per_node N -m gankit train ...`` sets RANK / WORLD_SIZE / LOCAL_RANK /
MASTER_ADDR; :func:`setup` then joins the process group (gloo on CPU, nccl on CUDA). The rest of
gankit asks this module who it is (:func:`rank`, :func:`world`, :func:`is_main`) and:

- each rank trains on its own contiguous slice of every global batch (``BatchSampler``) and draws
  its slice of the global batch's latents, so N processes at batch B compute what one process
  computes at batch N*B, up to float rounding (BatchNorm statistics excepted: they stay per rank);
- gradients are averaged by DDP; stats are averaged across ranks once per tick;
- only rank 0 writes the run directory; the others get its path from rank 0.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from gankit.errors import GankitError

T = TypeVar("T")


def world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def setup() -> bool:
    """Join the process group when launched by torchrun with more than one process; True when this
    call joined it (so the caller leaves it again)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        return False
    if not dist.is_available():
        raise GankitError("WORLD_SIZE > 1 but this torch has no torch.distributed", "run one process")
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        dist.init_process_group("nccl" if cuda else "gloo")
    except Exception as e:  # bad rendezvous flags, unreachable master, ...
        raise GankitError(
            f"could not join the torchrun process group: {type(e).__name__}: {e}".splitlines()[0],
            "check torchrun's --nnodes/--node_rank/--rdzv_endpoint (or MASTER_ADDR/MASTER_PORT)",
        ) from None
    return True


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def from_main(make: Callable[[], T]) -> T:
    """Rank 0 runs ``make`` (e.g. creates the run directory); every rank gets its result."""
    if world() == 1:
        return make()
    box: list[Any] = [None]
    if is_main():
        try:
            box[0] = ("ok", make())
        except GankitError as e:  # every rank fails with rank 0's message, none hangs
            box[0] = ("error", (e.problem, e.fix))
    dist.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise GankitError(*value)
    return value


def barrier() -> None:
    if world() > 1:
        dist.barrier()


def mean_stats(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average a tick's stats over the ranks (one all-reduce; every rank reports the same names)."""
    if world() == 1 or not values:
        return values
    names = sorted(values)
    t = torch.tensor([values[n] for n in names], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {n: v / world() for n, v in zip(names, t.tolist(), strict=True)}


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is true on one (so all ranks stop at the same step)."""
    if world() == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


class TrainingDDP(nn.Module):
    """DDP for the passes that train this network; a frozen pass (D inside G's phase, or a no-grad
    generation) runs the plain module, so DDP never waits for gradients that will not come and
    ``find_unused_parameters`` can stay off. Batch-norm buffers are not broadcast: training uses
    batch statistics, and exported generators recompute theirs (standing statistics)."""

    def __init__(self, module: nn.Module, device: torch.device):
        super().__init__()
        ids = None
        if device.type == "cuda":
            ids = [device.index if device.index is not None else torch.cuda.current_device()]
        DDP = nn.parallel.DistributedDataParallel
        sync = (  # the buffers' switch was renamed in torch 2.13
            {"forward_sync_buffers": False}
            if "forward_sync_buffers" in inspect.signature(DDP).parameters
            else {"broadcast_buffers": False}
        )
        self.ddp = DDP(module, device_ids=ids, **sync)
        self._probe = next(module.parameters())

    def forward(self, *args: Any) -> Any:
        if torch.is_grad_enabled() and self._probe.requires_grad:
            return self.ddp(*args)
        return self.ddp.module(*args)


def wrap(net: nn.Module, device: torch.device) -> nn.Module:
    """The network as the training passes call it: DDP-wrapped when there is more than one process."""
    if world() == 1 or not any(p.requires_grad for p in net.parameters()):
        return net
    return TrainingDDP(net, device)


def local_seed(seed: int, step: int) -> int:
    """Seed of a rank's own generator (augmentation, instance noise, penalty interpolates)."""
    return seed * 1_000_003 + 7919 * (rank() + 1) + step
