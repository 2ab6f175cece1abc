"""One contract over every registered model family and loss: shapes, a CPU step, save/load, seeding."""

import json

import pytest
import torch

from gankit.config import Config, merge_missing
from gankit.data import RealData
from gankit.losses import LOSSES
from gankit.models import MODELS
from gankit.pretrained import GAN, save_pretrained
from gankit.training.setup import build_networks, resolve_config


def pair(nets):
    return nets["G"].module, nets["D"].module


# A tiny setting per family: (data shape, extra config)
FAMILY_CASES = {
    "mlp": [((2,), {}), ((1, 8, 8), {})],
    "dcgan": [((1, 8, 8), {}), ((3, 16, 16), {}), ((1, 28, 28), {})],
    "sngan": [((1, 8, 8), {}), ((3, 16, 16), {})],
    "biggan": [((1, 8, 8), {}), ((3, 16, 16), {})],
    "progan": [((1, 8, 8), {}), ((3, 16, 16), {})],
    "stylegan": [((1, 8, 8), {}), ((3, 16, 16), {})],
}


def tiny_data(shape, n=64, classes=3):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, *shape, generator=g) * 2 - 1
    return RealData("tiny", x, "images" if len(shape) == 3 else "points", torch.arange(n) % classes, classes)


def tiny_config(model, conditional=False, loss="nonsat", cond_d="projection"):
    cfg = Config()
    cfg.data.name = "tiny"
    cfg.model.name = model
    cfg.model.conditional = conditional
    cfg.model.cond_d = cond_d
    cfg.loss.name = loss
    tiny = {"model.latent_dim": 8, "model.width": 8, "train.batch_size": 8, "train.steps": 2}
    merge_missing(cfg, {**tiny, **({"model.depth": 2} if model == "mlp" else {})})
    return cfg


def tiny_table():
    from gankit.tabular.datasets import TABLES
    from gankit.tabular.table import TableData

    frame = TABLES.get("iris").load().sample(60, random_state=0)
    return TableData.prepare(frame, ["species"], None, max_modes=3, seed=0, name="tiny-table")


def tiny_pairs():
    from gankit.data.paired import PairedData

    g = torch.Generator().manual_seed(0)
    b = torch.rand(24, 1, 16, 16, generator=g) * 2 - 1
    data = PairedData("tiny-pairs", "pairs", b[:16], b[:16].flip(-1), crop=16)
    data.make_holdout(b[16:], b[16:].flip(-1), n=8)
    return data


def tiny_sr():
    from gankit.data.paired import PairedData

    b = torch.rand(20, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    data = PairedData("tiny-sr", "sr", b[:16], None, crop=16, scale=2)
    data.make_holdout(b[16:], n=8)
    return data


def tiny_unpaired():
    from gankit.data.unpaired import UnpairedData

    x = torch.rand(40, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return UnpairedData("tiny-unpaired", x[:16], -x[16:32], x[32:], -x[32:])


# lazy R1 and path length on every 2nd step: the resume test cuts between two of them
STYLEGAN_TINY = ["model.width=4", "model.max_width=8", "model.w_dim=8", "model.r1_every=2",
                 "model.pl_weight=2", "model.pl_every=2", "optim.ema=0.9"]  # fmt: skip


# Every registered family, through the public API: (data maker, overrides). The generator families'
# own contract (shapes, conditioning, the exported generator) is TestModelContract below.
CONTRACT_CASES = {
    "mlp": (lambda: tiny_data((2,)), ["model.width=8", "model.depth=2"]),
    "dcgan": (lambda: tiny_data((1, 8, 8)), ["model.width=8", "optim.ema=0.9"]),
    "sngan": (lambda: tiny_data((1, 8, 8)), ["model.width=4", "optim.ema=0.9"]),
    "biggan": (lambda: tiny_data((1, 16, 16)), ["model.width=4", "model.attention=8", "optim.ema=0.9"]),
    # stages 4x4, 8x8, 16x16 of 2 steps each: the resume test cuts where the 8x8 block starts fading in
    "progan": (lambda: tiny_data((1, 16, 16)), ["model.width=4", "model.grow_share=1", "optim.ema=0.9"]),
    "stylegan": (lambda: tiny_data((1, 8, 8)), STYLEGAN_TINY),
    "pix2pix": (tiny_pairs, ["model.width=8"]),
    # pretrain 0.5 of 4 steps: the resume test cuts at the stage boundary
    "cyclegan": (tiny_unpaired, ["model.width=4", "model.blocks=1", "model.pool=3"]),
    "srgan": (tiny_sr, ["model.width=4", "model.blocks=1", "model.d_width=4", "model.perceptual=random"]),
    "ctgan": (tiny_table, ["model.g_dims=16", "model.d_dims=16", "model.latent_dim=8", "optim.ema=0.9"]),
}
COMMON = ["train.batch_size=8", "train.log_every=2", "train.checkpoint_every=2", "monitor.eval_every=0"]


def test_every_family_has_a_case():
    generators = {name for name, family in MODELS.items() if family.task == "generate"}
    assert generators <= set(FAMILY_CASES), "add a tiny case for the new model family"
    assert set(MODELS.names()) <= set(CONTRACT_CASES), "add a tiny contract case for the new model family"


def _train(family, tmp, steps, **kw):
    import gankit

    make, overrides = CONTRACT_CASES[family]
    cfg = {"data": {"name": "tiny"}, "model": {"name": family}, "train": {"steps": steps}}
    return gankit.train(cfg, real_data=make(), progress=False, overrides=[*COMMON, *overrides], **kw)


def _weights(run):
    from gankit.training.checkpoint import latest_checkpoint, load_checkpoint

    state = load_checkpoint(latest_checkpoint(run), torch.device("cpu"))
    return {f"{n}.{k}": v for n, part in state.items() if isinstance(part, dict) for k, v in part.items()
            if isinstance(v, torch.Tensor)}  # fmt: skip


@pytest.mark.parametrize("family", list(CONTRACT_CASES))
class TestFamilyContract:
    def test_a_cpu_step_is_finite_and_exports(self, family, tmp_path):
        import gankit

        run = _train(family, tmp_path, 2, out=tmp_path / "r")
        stats = [json.loads(line) for line in (run.run_dir / "stats.jsonl").read_text().splitlines()]
        assert stats[-1]["step"] == 2
        assert all(
            torch.isfinite(torch.tensor(float(v))) for k, v in stats[-1].items() if isinstance(v, float)
        )
        model = gankit.load(run.run_dir)  # the object the family's task calls for
        if hasattr(model, "translate"):  # evaluation mode: the same input, the same output
            x = torch.rand(3, model.image_channels, 20, 24) * 2 - 1
            y = model.translate(x)
            assert y.shape[-2:] == (20 * model.scale, 24 * model.scale) and torch.equal(y, model.translate(x))
            assert not torch.equal(y, model.translate(x.flip(-1)))
            return
        a, b = model.sample(7, seed=3), model.sample(7, seed=3)
        assert a.equals(b) if hasattr(a, "equals") else torch.equal(a, b)  # seeded sampling
        c = model.sample(7, seed=4)
        assert not (a.equals(c) if hasattr(a, "equals") else torch.equal(a, c))

    def test_seeded_runs_are_identical_and_resume_is_exact(self, family, tmp_path):
        import gankit

        _train(family, tmp_path, 4, out=tmp_path / "whole")
        _train(family, tmp_path, 4, out=tmp_path / "again")
        _train(family, tmp_path, 4, out=tmp_path / "cut", callbacks=[lambda step, last: step < 2])
        assert len(_weights(tmp_path / "cut")) > 0
        gankit.train(resume=tmp_path / "cut", real_data=CONTRACT_CASES[family][0](), progress=False)
        whole, again, cut = (_weights(tmp_path / n) for n in ("whole", "again", "cut"))
        assert whole.keys() == again.keys() == cut.keys()
        for k in whole:
            assert torch.equal(whole[k], again[k]), k
            assert torch.equal(whole[k], cut[k]), k


CASES = [
    (m, shape, cond, cond_d)
    for m, shapes in FAMILY_CASES.items()
    for shape, _ in shapes
    for cond, cond_d in [(False, "projection"), (True, "projection"), (True, "concat")]
]


@pytest.mark.parametrize("model,shape,conditional,cond_d", CASES)
class TestModelContract:
    def setup(self, model, shape, conditional, cond_d, loss="nonsat"):
        data = tiny_data(shape)
        cfg = resolve_config(tiny_config(model, conditional, loss, cond_d), data)
        torch.manual_seed(0)
        G, D = pair(build_networks(cfg, data))
        return cfg, data, G, D

    def test_shapes(self, model, shape, conditional, cond_d):
        cfg, data, G, D = self.setup(model, shape, conditional, cond_d)
        z = torch.randn(5, cfg.model.latent_dim)
        y = torch.tensor([0, 1, 2, 0, 1]) if conditional else None
        x = G(z, y)
        assert x.shape == (5, *shape)
        assert D(x, y).shape == (5,)

    def test_conditioning_changes_outputs(self, model, shape, conditional, cond_d):
        if not conditional:
            pytest.skip("unconditional")
        cfg, data, G, D = self.setup(model, shape, conditional, cond_d)
        G.eval()
        z = torch.randn(4, cfg.model.latent_dim)
        x0, x1 = G(z, torch.zeros(4, dtype=torch.long)), G(z, torch.ones(4, dtype=torch.long))
        assert not torch.equal(x0, x1)
        assert not torch.equal(
            D(x0, torch.zeros(4, dtype=torch.long)), D(x0, torch.ones(4, dtype=torch.long))
        )

    def test_one_training_step_is_finite_and_changes_weights(
        self, model, shape, conditional, cond_d, tmp_path
    ):
        from gankit.training.loop import run as run_loop

        data = tiny_data(shape)
        cfg = resolve_config(tiny_config(model, conditional, "nonsat", cond_d), data)
        result = run_loop(cfg, data, tmp_path, progress=False)
        stats = [json.loads(line) for line in (tmp_path / "stats.jsonl").read_text().splitlines()]
        assert result.step == 2 and stats[-1]["step"] == 2
        for key in ("loss/D", "loss/G", "D(x)", "D(G(z))"):
            assert torch.isfinite(torch.tensor(stats[-1][key]))
        assert (tmp_path / "model" / "model.safetensors").is_file()
        assert (tmp_path / "fakes_000002.png").is_file() and (tmp_path / "reals.png").is_file()

    def test_save_load_bit_exact_and_seeded_sampling(self, model, shape, conditional, cond_d, tmp_path):
        cfg, data, G, D = self.setup(model, shape, conditional, cond_d)
        from gankit.models.generator import model_meta

        save_pretrained(tmp_path, G.eval(), model_meta(cfg, data))
        loaded = GAN.from_pretrained(tmp_path)
        for (k, a), (_, b) in zip(G.state_dict().items(), loaded.generator.state_dict().items(), strict=True):
            assert torch.equal(a, b), k
        original = GAN(G, model_meta(cfg, data))
        a = original.sample(7, seed=3)
        assert torch.equal(a, loaded.sample(7, seed=3))
        assert torch.equal(loaded.sample(7, seed=3), loaded.sample(7, seed=3))
        assert not torch.equal(loaded.sample(7, seed=3), loaded.sample(7, seed=4))


@pytest.mark.parametrize("loss", LOSSES.names())
def test_every_loss_takes_a_finite_step(loss, tmp_path):
    from gankit.training.loop import run as run_loop

    data = tiny_data((2,))
    cfg = resolve_config(tiny_config("mlp", loss=loss), data)
    run_loop(cfg, data, tmp_path, progress=False)
    last = json.loads((tmp_path / "stats.jsonl").read_text().splitlines()[-1])
    assert all(torch.isfinite(torch.tensor(v)) for k, v in last.items() if k.startswith("loss/"))
    if LOSSES.get(loss).gradient_penalty:
        assert "loss/gp" in last


def test_dcgan_extra_convs_deepen_every_resolution_and_train(tmp_path):
    from torch import nn

    from gankit.training.loop import run as run_loop

    def stride1_3x3(net):
        return [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]

    data = tiny_data((3, 28, 28))
    plain = resolve_config(tiny_config("dcgan"), data)
    G0, D0 = pair(build_networks(plain, data))
    assert stride1_3x3(G0) == [] and stride1_3x3(D0) == []  # default: the DCGAN example's layers
    cfg = tiny_config("dcgan")
    cfg.model.extra_convs = 2
    cfg.model.spectral_norm = True
    cfg = resolve_config(cfg, data)
    G, D = pair(build_networks(cfg, data))
    # 28 = 7 -> 14 -> 28: two resolutions below the output in G and above the head in D, two each
    assert [m.in_channels for m in stride1_3x3(G)] == [16, 16, 8, 8]
    assert [m.in_channels for m in stride1_3x3(D)] == [8, 8, 16, 16]
    assert all(nn.utils.parametrize.is_parametrized(m) for m in stride1_3x3(D))
    z = torch.randn(4, cfg.model.latent_dim)
    assert G(z).shape == (4, 3, 28, 28) and D(G(z)).shape == (4,)
    run_loop(cfg, data, tmp_path, progress=False)
    last = json.loads((tmp_path / "stats.jsonl").read_text().splitlines()[-1])
    assert torch.isfinite(torch.tensor([last["loss/D"], last["loss/G"]])).all()


def test_negative_extra_convs_is_one_line_error():
    from gankit.errors import GankitError

    cfg = tiny_config("dcgan")
    cfg.model.extra_convs = -1
    with pytest.raises(GankitError, match="extra_convs"):
        resolve_config(cfg, tiny_data((1, 28, 28)))


def test_dcgan_nearest_upsampling_replaces_every_strided_transposed_conv():
    from torch import nn

    data = tiny_data((3, 28, 28))
    cfg = tiny_config("dcgan")
    cfg.model.upsample = "nearest"
    cfg = resolve_config(cfg, data)
    G, _ = pair(build_networks(cfg, data))
    transposed = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.stride for m in transposed] == [(1, 1)]  # only the latent -> 7x7 projection is left
    assert sum(isinstance(m, nn.Upsample) for m in G.modules()) == 2  # 7 -> 14 -> 28
    z = torch.randn(4, cfg.model.latent_dim)
    assert G(z).shape == (4, 3, 28, 28)


def test_a_model_saved_before_the_dcgan_layout_options_still_loads(tmp_path):
    from gankit.models.generator import model_meta

    data = tiny_data((1, 28, 28))
    cfg = resolve_config(tiny_config("dcgan"), data)
    G, _ = pair(build_networks(cfg, data))
    meta = model_meta(cfg, data)
    for added in ("extra_convs", "upsample"):  # config.json files written before these existed
        del meta["model"][added]
    save_pretrained(tmp_path, G.eval(), meta)
    assert torch.equal(GAN.from_pretrained(tmp_path).sample(5, seed=1), GAN(G, meta).sample(5, seed=1))
