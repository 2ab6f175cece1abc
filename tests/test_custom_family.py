"""A family defined in this file alone — three networks, two stages, the second of which grows a
network — trains, checkpoints, resumes bit-exactly and exports through the public commands, with no
edit to the package. (docs/design.md walks through the same shape.)"""

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from torch import nn

import gankit
from gankit.cli import main as cli
from gankit.models import MODELS, Net, register_model
from gankit.models.adversarial import Game, d_adversarial, g_adversarial
from gankit.models.generator import GeneratorFamily
from gankit.training.checkpoint import latest_checkpoint, load_checkpoint
from gankit.training.objective import Phase, Stage

GROW_AT = 8  # steps of the first stage


@dataclass
class MappedOptions:
    width: int = field(default=16, metadata={"help": "hidden units"})


class Synthesis(nn.Module):
    """w -> x, with a residual layer more per growth."""

    def __init__(self, latent: int, width: int, out: int):
        super().__init__()
        self.inp, self.out = nn.Linear(latent, width), nn.Linear(width, out)
        self.extra = nn.ModuleList()
        self.width = width

    def grow(self) -> None:
        self.extra.append(nn.Linear(self.width, self.width))

    def forward(self, w):
        h = torch.relu(self.inp(w))
        for layer in self.extra:
            h = h + torch.relu(layer(h))
        return self.out(h)


class Mapped(nn.Module):
    """What the export samples with: mapping then synthesis, ``x = net(z, y)``."""

    def __init__(self, mapping: nn.Module, synthesis: nn.Module):
        super().__init__()
        self.mapping, self.synthesis = mapping, synthesis

    def forward(self, z, y=None):
        return self.synthesis(self.mapping(z))


class MappedGame(Game):
    """G's samples are S(M(z)); stage 1 trains D and S, stage 2 grows S and trains M and S together."""

    def _generate(self):
        z = torch.randn(self.cfg.train.batch_size, self.cfg.model.latent_dim, generator=self.rng)
        return self.ctx.nets["S"](self.ctx.nets["M"](z))

    def judge(self, x, y):
        return self.ctx.nets["D"](x).flatten()

    def stages(self):
        d = Phase("D", "d", ("D",), [d_adversarial], keeps=("M", "S"))
        return [
            Stage("synthesis", [d, Phase("S", "g", ("S",), [g_adversarial])], length=GROW_AT),
            Stage("all", [d, Phase("G", "g", ("M", "S"), [g_adversarial])], enter=grow),
        ]


def grow(game: MappedGame) -> bool:
    game.ctx.plain["S"].grow()
    return True  # shapes changed: the loop rebuilds optimisers, EMAs and wrappers


class MappedFamily(GeneratorFamily):
    name = "test-mapped"
    description = "test: mapping + synthesis + critic, grown in a second stage"
    Options = MappedOptions
    data_kinds = ("points",)
    network_names = ("M", "S", "D")

    def networks(self, cfg, data):
        k, w, dim = cfg.model.latent_dim, cfg.model.width, data.shape[0]
        mapping = nn.Sequential(nn.Linear(k, k), nn.ReLU(), nn.Linear(k, k))
        critic = nn.Sequential(nn.Linear(dim, w), nn.LeakyReLU(0.2), nn.Linear(w, 1))
        return {
            "M": Net(mapping, "g", ema=True, export=True),
            "S": Net(Synthesis(k, w, dim), "g", ema=True, export=True),
            "D": Net(critic, "d"),
        }

    def objective(self, ctx):
        return MappedGame(ctx)

    def sampling_network(self, ctx):
        return Mapped(ctx.ema.get("M", ctx.plain["M"]), ctx.ema.get("S", ctx.plain["S"]))

    def build_export(self, meta):
        k, w, dim = meta["model"]["latent_dim"], meta["model"]["width"], meta["shape"][0]
        synthesis = Synthesis(k, w, dim)
        for _ in range(meta["stage"]):
            synthesis.grow()
        mapping = nn.Sequential(nn.Linear(k, k), nn.ReLU(), nn.Linear(k, k))
        return Mapped(mapping, synthesis)


@pytest.fixture(scope="module", autouse=True)
def family():
    register_model(MappedFamily)
    yield
    MODELS._items.pop(MappedFamily.name)


ARGS = ["--data", "ring8", "--model", "test-mapped", "--set", "train.batch_size=32",
        "--set", "train.log_every=4", "--set", "optim.ema=0.9", "--set", "monitor.eval_every=0",
        "--no-progress"]  # fmt: skip


def weights(run):
    state = load_checkpoint(latest_checkpoint(run), torch.device("cpu"))
    return state, {k: v for name in ("M", "S", "D", "M_ema", "S_ema") for k, v in state[name].items()}


def test_it_trains_grows_and_exports_through_the_cli(tmp_path):
    cli(["train", *ARGS, "--steps", "20", "--out", str(tmp_path / "run")])
    state, _ = weights(tmp_path / "run")
    assert state["stage"]["index"] == 1 and len(state["S"]) == 6  # inp, out and one grown layer
    assert {"opt_g", "opt_d", "M_ema", "S_ema"} <= set(state)
    cli(["sample", str(tmp_path / "run"), "-n", "50", "--out", str(tmp_path / "x.npy")])
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (50, 2) and np.isfinite(x).all()
    gan = gankit.load(tmp_path / "run")
    assert torch.equal(gan.sample(8, seed=1), gan.sample(8, seed=1))


@pytest.mark.parametrize("stop_at", [GROW_AT // 2, GROW_AT + 4])  # before the growth, and after it
def test_resume_is_bit_exact_across_and_within_stages(tmp_path, stop_at):
    cli(["train", *ARGS, "--steps", "20", "--out", str(tmp_path / "whole")])
    gankit.train(
        out=tmp_path / "cut", model="test-mapped", data="ring8", steps=20, progress=False,
        overrides=[a for a in ARGS[4:] if a not in ("--set", "--no-progress")],
        callbacks=[lambda step, last: step < stop_at],
    )  # fmt: skip
    assert load_checkpoint(latest_checkpoint(tmp_path / "cut"), torch.device("cpu"))["step"] == stop_at
    cli(["train", "--resume", str(tmp_path / "cut"), "--no-progress"])
    (a_state, a), (b_state, b) = weights(tmp_path / "whole"), weights(tmp_path / "cut")
    assert a_state["step"] == b_state["step"] == 20 and a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert a_state["opt_g"]["state"].keys() == b_state["opt_g"]["state"].keys()


def test_its_options_are_listed_and_checked(capsys):
    cli(["models", "test-mapped"])
    assert "model.width" in capsys.readouterr().out
    with pytest.raises(gankit.GankitError, match="unknown option 'model.depth' for model 'test-mapped'"):
        gankit.train(model="test-mapped", data="ring8", steps=2, overrides=["model.depth=5"], progress=False)


def test_a_family_registered_the_0_1_way_still_trains(tmp_path):
    from gankit.models import ModelFamily

    register_model(
        ModelFamily(
            name="test-flat",
            description="0.1-style",
            build_generator=lambda cfg, shape, k: _Flat(
                nn.Sequential(nn.Linear(cfg.latent_dim, cfg.width), nn.ReLU(), nn.Linear(cfg.width, 2)),
                flatten=False,
            ),
            build_discriminator=lambda cfg, shape, k, norm: _Flat(nn.Linear(shape[0], 1)),
        )
    )  # fmt: skip
    try:
        overrides = ["model.width=8", "train.batch_size=16", "monitor.eval_every=0"]
        run = gankit.train(model="test-flat", data="ring8", steps=4, out=tmp_path / "r", progress=False,
                           overrides=overrides)  # fmt: skip
        assert gankit.load(run.run_dir).sample(5, seed=0).shape == (5, 2)
    finally:
        MODELS._items.pop("test-flat")


class _Flat(nn.Module):
    """A 0.1 network: ``net(x, y=None)``."""

    def __init__(self, layer, flatten=True):
        super().__init__()
        self.layer, self.flatten = layer, flatten

    def forward(self, x, y=None):
        out = self.layer(x)
        return out.flatten() if self.flatten else out
