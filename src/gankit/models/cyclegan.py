"""CycleGAN (Zhu et al. 2017): translation between two domains without paired examples.

Four networks — generators ``G_ab``, ``G_ba`` (one optimiser group) and PatchGAN discriminators
``D_a``, ``D_b`` (another) — and the paper's objective: least-squares GAN loss, cycle consistency
(A -> B -> A and B -> A -> B in L1), the identity loss, and a history pool of 50 generated images
for the discriminators. The learning rate decays linearly to 0 over the run (the paper's second
half; over the whole run here, which a time budget keeps). Both directions are exported;
``gankit translate RUN IMAGE --out DIR --direction BtoA`` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.losses import LOSSES
from gankit.models.base import Net, model_view, register_model
from gankit.models.translator import TranslatorFamily, TranslatorOutputs
from gankit.nn.image2image import PatchGAN, ResnetGenerator
from gankit.nn.init import init_weights
from gankit.training.objective import Objective, Phase, Stage, TrainContext


@dataclass
class CycleGANOptions:
    width: int = field(default=16, metadata={"help": "generator and discriminator base channels (paper: 64)"})
    blocks: int = field(default=4, metadata={"help": "residual blocks per generator (paper: 9 at 256 px)"})
    d_layers: int = field(default=2, metadata={"help": "PatchGAN stride-2 layers (paper: 3)"})
    norm: str = field(default="instance", metadata={"help": "instance, batch or none"})
    cycle_weight: float = field(default=10.0, metadata={"help": "lambda of the cycle-consistency L1 terms"})
    identity_weight: float = field(
        default=0.5, metadata={"help": "identity loss, as a share of cycle_weight"}
    )
    pool: int = field(default=50, metadata={"help": "history of generated images shown to D (0: off)"})


@register_model
class CycleGAN(TranslatorFamily):
    name = "cyclegan"
    description = "CycleGAN: unpaired translation, two ResNet generators, LSGAN, cycle + identity loss"
    Options = CycleGANOptions
    network_names = ("G_ab", "G_ba", "D_a", "D_b")

    def recipe(self, data_name: str, data) -> dict[str, Any]:
        return {
            "loss.name": "lsgan", "optim.lr_g": 2e-4, "optim.lr_d": 2e-4, "optim.betas_g": (0.5, 0.999),
            "optim.betas_d": (0.5, 0.999), "optim.ema": 0.0, "optim.schedule": "linear",
            "train.batch_size": 8, "train.minutes": 15.0, "train.steps": 20000,
        }  # fmt: skip

    def load_data(self, cfg: Config):
        from pathlib import Path

        from gankit.data import DATASETS
        from gankit.data.unpaired import UnpairedData, load_unpaired_folder

        if cfg.data.name in DATASETS:
            data = DATASETS.get(cfg.data.name).load(cfg.data)
            if not isinstance(data, UnpairedData):
                from gankit.errors import GankitError

                raise GankitError(f"dataset '{cfg.data.name}' is not two unpaired domains",
                                  "use --data mnist-thick, or a folder with trainA/ and trainB/")  # fmt: skip
            return data
        return load_unpaired_folder(Path(cfg.data.name), cfg.data)

    def check_data(self, data) -> str | None:
        return (
            None
            if data.task == "unpaired"
            else "it learns two unpaired domains: use --model pix2pix for pairs"
        )

    def validate(self, options: CycleGANOptions, cfg: Config) -> list[str]:
        errors = []
        if options.norm not in ("instance", "batch", "none"):
            errors.append(f"model.norm={options.norm!r}: use instance, batch or none")
        if min(options.width, options.blocks, options.d_layers) < 1 or options.pool < 0:
            errors.append("model.width, blocks and d_layers must be >= 1, model.pool >= 0")
        return errors

    def build_translator(self, spec, in_channels: int, out_channels: int, meta=None) -> nn.Module:
        """Both directions, as the export holds them."""
        return nn.ModuleDict({
            "AtoB": ResnetGenerator(in_channels, out_channels, spec.width, spec.blocks, spec.norm),
            "BtoA": ResnetGenerator(out_channels, in_channels, spec.width, spec.blocks, spec.norm),
        })  # fmt: skip

    def network_facts(self, cfg: Config) -> dict[str, int]:
        return {"stride": 4, "widest": cfg.model.options["width"] * 4, "directions": 2}

    def networks(self, cfg: Config, data) -> dict[str, Net]:
        spec = model_view(cfg.model)
        ca, cb = data.in_channels, data.out_channels
        init = cfg.model.init
        return {
            "G_ab": Net(init_weights(ResnetGenerator(ca, cb, spec.width, spec.blocks, spec.norm), init), "g",
                        ema=True, export=True),
            "G_ba": Net(init_weights(ResnetGenerator(cb, ca, spec.width, spec.blocks, spec.norm), init), "g",
                        ema=True, export=True),
            "D_a": Net(init_weights(PatchGAN(ca, spec.width, spec.d_layers, spec.norm), init), "d"),
            "D_b": Net(init_weights(PatchGAN(cb, spec.width, spec.d_layers, spec.norm), init), "d"),
        }  # fmt: skip

    def objective(self, ctx: TrainContext) -> CycleGame:
        return CycleGame(ctx)

    def outputs(self, ctx: TrainContext, run_dir) -> CycleOutputs:
        return CycleOutputs(self, ctx, run_dir)


class ImagePool:
    """Shrivastava et al. 2017: D sees, half the time, a generated image from earlier steps (kept in a
    pool of ``size``) instead of the newest, which damps oscillation. Its contents are checkpointed."""

    def __init__(self, size: int):
        self.size, self.images = size, None

    def query(self, fake: Tensor, rng: torch.Generator) -> Tensor:
        if self.size == 0:
            return fake
        fake = fake.detach()
        if self.images is None:
            self.images = fake[: self.size].clone()
            return fake
        n = len(fake)
        out = fake.clone()
        if len(self.images) < self.size:  # filling up: keep the new ones, show them
            room = self.size - len(self.images)
            self.images = torch.cat([self.images, fake[:room]])
            return fake
        u = torch.rand(n, generator=rng, device=rng.device).to(fake.device)
        slots = torch.randint(self.size, (n,), generator=rng, device=rng.device).to(fake.device)
        for i in torch.nonzero(u < 0.5).flatten().tolist():  # swap: show the old one, keep the new one
            k = int(slots[i])
            out[i], self.images[k] = self.images[k].clone(), fake[i]
        return out


class CycleGame(Objective):
    """G phase (both generators): LSGAN + cycle + identity; then D phase (both discriminators) on
    real images against the pooled fakes of the G phase."""

    shown = ("loss/G", "loss/cycle", "loss/D")

    def __init__(self, ctx: TrainContext):
        super().__init__(ctx)
        self.loss = LOSSES.get(ctx.cfg.loss.name)
        self.probabilistic = self.loss.probabilistic
        o = ctx.options
        self.cycle, self.identity = (
            float(o["cycle_weight"]),
            float(o["identity_weight"]) * float(o["cycle_weight"]),
        )
        if ctx.data.in_channels != ctx.data.out_channels:
            self.identity = 0.0  # G_ab(b) is not defined when the domains' channels differ
        self.pools = {"a": ImagePool(int(o["pool"])), "b": ImagePool(int(o["pool"]))}
        self._batch: tuple[Tensor, Tensor] | None = None
        self.fakes: dict[str, Tensor] = {}

    def stages(self) -> list[Stage]:
        g = Phase("G", "g", ("G_ab", "G_ba"), [g_cycle])
        d = Phase("D", "d", ("D_a", "D_b"), [d_cycle], repeats=self.cfg.optim.n_critic)
        return [Stage("main", [g, d])]

    def new_repeat(self) -> None:
        if not self.fakes:  # the D phase judges the G phase's fakes against the G phase's reals
            self._batch = None

    def batch(self) -> tuple[Tensor, Tensor]:
        if self._batch is None:
            self._batch = self.ctx.data.batch(self.ctx.batches.next(), self.local_rng)
        return self._batch

    def state_dict(self) -> dict[str, Any]:
        return {f"pool_{k}": p.images for k, p in self.pools.items() if p.images is not None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, p in self.pools.items():
            p.images = state.get(f"pool_{k}")


def g_cycle(game: CycleGame) -> Tensor:
    a, b = game.batch()
    nets = game.ctx.nets
    fake_b, fake_a = nets["G_ab"](a), nets["G_ba"](b)
    adversarial = game.loss.g_loss(nets["D_b"](fake_b)) + game.loss.g_loss(nets["D_a"](fake_a))
    cycle = (nets["G_ba"](fake_b) - a).abs().mean() + (nets["G_ab"](fake_a) - b).abs().mean()
    loss = adversarial + game.cycle * cycle
    if game.identity > 0:
        identity = (nets["G_ab"](b) - b).abs().mean() + (nets["G_ba"](a) - a).abs().mean()
        game.stats.report("loss/identity", identity)
        loss = loss + game.identity * identity
    game.fakes = {"a": fake_a.detach(), "b": fake_b.detach()}
    game.stats.report("loss/G", adversarial)
    game.stats.report("loss/cycle", cycle)
    return loss


def d_cycle(game: CycleGame) -> Tensor:
    a, b = game.batch()
    nets, fakes = game.ctx.nets, game.fakes
    if not fakes:  # n_critic > 1: later repeats make their own (detached) fakes
        with torch.no_grad():
            fakes = {"a": nets["G_ba"](b), "b": nets["G_ab"](a)}
    total = a.new_zeros(())
    for domain, real, net in (("a", a, "D_a"), ("b", b, "D_b")):
        fake = game.pools[domain].query(fakes[domain], game.local_rng)
        real_out, fake_out = nets[net](real), nets[net](fake)
        total = total + 0.5 * game.loss.d_loss(real_out, fake_out, game.cfg.loss.label_smoothing)
        if domain == "b":
            game.stats.report("D(x)", real_out)
            game.stats.report("D(G(z))", fake_out)
    game.fakes = {}
    game.stats.report("loss/D", total)
    return total


class CycleOutputs(TranslatorOutputs):
    """Both generators exported; previews of held-out A -> B -> A and B -> A -> B."""

    def make_export(self) -> nn.Module:
        import copy

        ctx = self.ctx
        pick = lambda n: copy.deepcopy(ctx.ema.get(n, ctx.plain[n])).eval()  # noqa: E731
        return nn.ModuleDict({"AtoB": pick("G_ab"), "BtoA": pick("G_ba")})

    @torch.no_grad()
    def preview(self, step: int) -> None:
        from gankit.models.translator import PREVIEW
        from gankit.visual import save_samples_png

        nets = self.export(step)
        a, b = (t[:PREVIEW] for t in self.held)
        fb, fa = nets["AtoB"](a), nets["BtoA"](b)
        rows = [a, fb, nets["BtoA"](fb), b, fa, nets["AtoB"](fa)]
        c = max(x.shape[1] for x in rows)
        grid = torch.stack([x.expand(-1, c, -1, -1) for x in rows], 1).flatten(0, 1)
        save_samples_png(grid, self.run_dir / f"fakes_{step:06d}.png", nrow=6)

    def start(self) -> None:
        from gankit.visual import save_samples_png

        a, b = self.held
        c = max(a.shape[1], b.shape[1])
        both = torch.cat([a[:32].expand(-1, c, -1, -1), b[:32].expand(-1, c, -1, -1)])
        save_samples_png(both, self.run_dir / "reals.png")

    def evaluate(self, step: int):
        from gankit.translation.metrics import evaluate_cycle, flat

        results = evaluate_cycle(self.export(step), *self.held, self.data)
        return results, flat(results), None
