"""BigGAN (Brock et al. 2019) at small scale: SNGAN's ResNet networks (nn/resnet.py) plus a shared
class embedding and a hierarchical latent feeding every block's conditional batch norm, spectral
norm in G as well as D, orthogonal init, and orthogonal regularisation of G's weights as a term of
the G phase (:class:`BigGANGame`). Truncation at sampling time is every generator's
(``gankit sample --truncation``, gankit/latent.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from gankit.models.adversarial import Game
from gankit.models.base import Shape, register_model
from gankit.models.sngan import _DEFAULTS, BUDGET_32, RECIPE_32, SNGAN, InitScheme, SNGANOptions
from gankit.nn.resnet import ResNetGenerator, init_resnet, levels, spectral_norm_layers
from gankit.training.objective import Stage, TrainContext


@dataclass
class BigGANOptions(SNGANOptions):
    shared_dim: int = field(
        default=32, metadata={"help": "size of the shared class embedding (0: per-class BN gains, as SNGAN)"}
    )
    hierarchical: bool = field(
        default=True, metadata={"help": "split z over G's input layer and its blocks (hierarchical latent)"}
    )
    ortho: float = field(
        default=1e-4, metadata={"help": "weight of G's off-diagonal orthogonal regularisation (0: off)"}
    )
    g_spectral_norm: bool = field(default=True, metadata={"help": "spectral norm in G as well as D"})
    weight_init: InitScheme = field(
        default="orthogonal", metadata={"help": "the family's init: orthogonal (BigGAN), xavier, normal"}
    )


def off_diagonal_gram(w: Tensor) -> Tensor:
    """||W W^T * (1 - I)||_F^2 over W's rows (filters): BigGAN's orthogonal regularisation, which
    leaves the norms of the filters free and pushes them apart (Brock et al. 2019, sec. 3.1)."""
    w = w.flatten(1)  # (out, in * kh * kw)
    gram = w @ w.t()
    return (gram - torch.diag_embed(gram.diagonal())).square().sum()


def regularised_weights(g: nn.Module) -> list[Tensor]:
    """G's conv and linear weights (the unnormalised ones under spectral norm); not the embeddings,
    which BigGAN leaves out of the regulariser."""
    out = []
    for m in g.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            out.append(m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight)
    return out


def g_orthogonal(game: BigGANGame) -> Tensor:
    # beta/2 ||.||^2, whose gradient 2 beta (W W^T * (1 - I)) W is the one BigGAN adds to G's grads
    penalty = sum(off_diagonal_gram(w) for w in game.ortho_weights)
    game.stats.report("loss/ortho", penalty)
    return 0.5 * game.cfg.model.ortho * penalty


class BigGANGame(Game):
    """The standard game with orthogonal regularisation of G added to the G phase."""

    def __init__(self, ctx: TrainContext):
        super().__init__(ctx)
        self.ortho_weights = regularised_weights(ctx.plain["G"])

    def stages(self) -> list[Stage]:
        stages = super().stages()
        if self.cfg.model.ortho > 0:
            for stage in stages:
                for phase in stage.phases:
                    if phase.name == "G":
                        phase.terms.append(g_orthogonal)
        return stages


# BigGAN's budget recipe averages G more slowly still (EMA 0.999, as BigGAN itself uses 0.9999 over
# far longer runs): ten minutes on both cores of an AVX2 EPYC drew 0.76 of the digits with confidence
# by the 28x28 classifier on resized samples (EMA 0.995: 0.55), every class 9.4-10.6%, classifier FD
# 2.17 (2.52); on one core 0.83 (0.9995: 0.75). By the classifier trained at 32x32 the recipe's run
# draws 0.98 (the real digits: 0.90); docs/benchmarks.md.
BIGGAN_BUDGET_32 = {**BUDGET_32, "optim.ema": 0.999}


@register_model
class BigGAN(SNGAN):
    name = "biggan"
    description = "BigGAN: SNGAN's ResNets + shared class embedding, hierarchical z, SN in G, ortho reg"
    Options = BigGANOptions
    defaults = {**_DEFAULTS, "optim.betas_g": (0.0, 0.999), "optim.betas_d": (0.0, 0.999)}
    recipes: dict[str, dict[str, Any]] = {"mnist": RECIPE_32, "digits": RECIPE_32}
    budget_recipes: dict[str, dict[str, Any]] = {"mnist": BIGGAN_BUDGET_32, "digits": BIGGAN_BUDGET_32}

    def check_options(self, cfg, data) -> list[str]:
        m = cfg.model
        errors = []
        if m.shared_dim < 0 or m.ortho < 0:
            errors.append("model.shared_dim and model.ortho must be >= 0")
        slices = len(levels(data.shape[-1])) + 1
        if m.hierarchical and m.latent_dim < slices:
            errors.append(f"a hierarchical latent needs model.latent_dim >= {slices} (one slice per block)")
        if m.hierarchical and m.conditional and not m.shared_dim:
            errors.append("a conditional hierarchical latent needs a shared embedding: set model.shared_dim")
        return errors

    def objective(self, ctx: TrainContext) -> BigGANGame:
        return BigGANGame(ctx)

    def build_generator(self, spec, shape: Shape, num_classes: int) -> nn.Module:
        s = spec
        g = ResNetGenerator(
            shape, num_classes, s.latent_dim, s.width, s.attention, s.shared_dim, s.hierarchical
        )
        init_resnet(g, s.weight_init)
        return spectral_norm_layers(g, embeddings=False) if spec.g_spectral_norm else g
