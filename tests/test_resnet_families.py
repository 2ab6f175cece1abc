"""sngan and biggan (models/sngan.py, models/biggan.py, nn/resnet.py) and truncation at sampling time.

The shared contract (shapes, a CPU step, save -> load, seeded sampling, resume) is in test_contract.py;
here: what these families add, and the truncation trick every generator gets from gankit/latent.py.
"""

import json

import pytest
import torch
from torch import nn

from gankit.config import Config, merge_missing
from gankit.data import RealData
from gankit.errors import GankitError
from gankit.latent import sample_latent, truncation_threshold
from gankit.models.biggan import g_orthogonal, off_diagonal_gram, regularised_weights  # registers both
from gankit.nn.resnet import SelfAttention
from gankit.pretrained import GAN
from gankit.training.setup import build_networks, resolve_config


def tiny_images(shape=(1, 16, 16), n=32, classes=3):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, *shape, generator=g) * 2 - 1
    return RealData("tiny", x, "images", torch.arange(n) % classes, classes)


def resolved(model, data, **options):
    cfg = Config()
    cfg.data.name, cfg.model.name, cfg.model.conditional = "tiny", model, True
    merge_missing(cfg, {"model.width": 4, "model.latent_dim": 8, "train.batch_size": 8, "train.steps": 2})
    for key, value in options.items():
        setattr(cfg.model, key, value)
    return resolve_config(cfg, data)


# --- truncation ----------------------------------------------------------------------------------
class Echo(nn.Module):
    """A 'generator' that returns its latent, so samples show the latents GAN.sample drew."""

    def forward(self, z, y=None):
        return z


def echo_gan(prior="gaussian"):
    meta = {"model": {"latent_dim": 6, "prior": prior, "conditional": False}, "shape": [6], "kind": "points",
            "num_classes": 0, "data": {}}  # fmt: skip
    return GAN(Echo(), meta)


@pytest.mark.parametrize("prior", ["gaussian", "uniform"])
def test_truncation_one_or_none_is_plain_sampling_bit_for_bit(prior):
    gan = echo_gan(prior)
    plain = gan.sample(500, seed=5)
    assert torch.equal(gan.sample(500, seed=5, truncation=None), plain)
    assert torch.equal(gan.sample(500, seed=5, truncation=1.0), plain)
    assert not torch.equal(gan.sample(500, seed=5, truncation=0.9), plain)


@pytest.mark.parametrize("psi", [0.9, 0.5, 0.1])
def test_truncated_latents_lie_within_the_threshold_and_keep_the_values_inside(psi):
    gan = echo_gan()
    plain, z = gan.sample(4000, seed=2), gan.sample(4000, seed=2, truncation=psi)
    t = truncation_threshold(psi)
    assert z.abs().max() <= t
    inside = plain.abs() <= t
    assert torch.equal(z[inside], plain[inside])  # only the values beyond the threshold are redrawn
    # the resampled ones follow the prior within [-t, t], not a point mass at its edge
    redrawn = z[~inside]
    assert redrawn.abs().mean() < 0.6 * t
    assert abs((~inside).float().mean().item() - (1 - psi)) < 0.02  # psi: the share of mass kept


def test_truncation_threshold_matches_biggan_thresholds_and_uniform_scales():
    assert abs(truncation_threshold(0.3829) - 0.5) < 1e-3
    assert abs(truncation_threshold(0.6827) - 1.0) < 1e-3
    u = echo_gan("uniform").sample(2000, seed=0, truncation=0.3)
    assert u.abs().max() <= 0.3 and u.abs().max() > 0.29
    for psi in (0.0, 1.5, -0.5):
        with pytest.raises(GankitError, match="truncation"):
            sample_latent(4, 2, "gaussian", torch.Generator(), truncation=psi)


def test_truncation_pulls_a_generators_samples_of_one_class_together():
    # a biggan generator: truncated samples of one class spread less than plain ones
    data = tiny_images()
    cfg = resolved("biggan", data)
    torch.manual_seed(0)
    g = build_networks(cfg, data)["G"].module
    from gankit.models.generator import model_meta

    gan = GAN(g, model_meta(cfg, data))
    plain = gan.sample(64, seed=1, labels=0, raw=True)
    tight = gan.sample(64, seed=1, labels=0, raw=True, truncation=0.2)
    assert tight.var(dim=0).mean() < plain.var(dim=0).mean()


# --- the families ----------------------------------------------------------------------------------
def test_family_defaults_come_through_their_recipe_and_a_named_loss_is_kept():
    data = tiny_images()
    for model in ("sngan", "biggan"):
        cfg = resolved(model, data)
        assert cfg.loss.name == "hinge" and cfg.model.spectral_norm and cfg.optim.ema == 0.999
        assert cfg.optim.betas_g[0] == 0.0
    cfg = Config()
    cfg.data.name, cfg.model.name, cfg.loss.name = "tiny", "biggan", "lsgan"
    assert resolve_config(cfg, data).loss.name == "lsgan"
    dcgan = Config()
    dcgan.data.name, dcgan.model.name = "tiny", "dcgan"
    assert resolve_config(dcgan, data).loss.name == "nonsat"  # no global default changed


def is_sn(m):
    return nn.utils.parametrize.is_parametrized(m, "weight")


def test_spectral_norm_in_d_for_both_and_in_g_for_biggan_only():
    data = tiny_images()
    for model, g_sn in (("sngan", False), ("biggan", True)):
        nets = build_networks(resolved(model, data), data)
        g, d = nets["G"].module, nets["D"].module
        layers = lambda net: [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]  # noqa: E731
        assert all(is_sn(m) for m in layers(d)), model
        assert all(is_sn(m) == g_sn for m in layers(g)), model
        assert not any(is_sn(m) for m in g.modules() if isinstance(m, nn.Embedding))  # class embeddings free


def test_biggan_init_is_orthogonal_and_survives_network_building():
    data = tiny_images()
    g = build_networks(resolved("biggan", data), data)["G"].module
    for w in regularised_weights(g):
        w = w.detach().flatten(1)
        if w.shape[0] <= w.shape[1]:  # rows orthonormal
            assert torch.allclose(w @ w.t(), torch.eye(w.shape[0]), atol=1e-5)


def test_hierarchical_latent_reaches_the_blocks_and_the_shared_embedding_every_block():
    data = tiny_images((1, 32, 32))
    cfg = resolved("biggan", data, latent_dim=16)
    g = build_networks(cfg, data)["G"].module.eval()
    assert g.linear.in_features == 4  # 16 split over the input layer and 3 blocks
    cbn = [m for m in g.modules() if type(m).__name__ == "CondBatchNorm"]
    assert len(cbn) == 6 and all(m.gain.in_features == 32 + 4 for m in cbn)  # shared 32 + a z slice
    z, y = torch.randn(4, 16), torch.zeros(4, dtype=torch.long)
    z2 = z.clone()
    z2[:, -4:] = torch.randn(4, 4)  # only the last block's slice
    assert not torch.allclose(g(z, y), g(z2, y))
    flat = build_networks(resolved("biggan", data, latent_dim=16, hierarchical=False), data)["G"].module
    assert flat.linear.in_features == 16


def test_self_attention_sits_at_the_asked_resolution_of_both_networks():
    data = tiny_images((1, 32, 32))
    nets = build_networks(resolved("sngan", data, attention=16), data)
    for name in ("G", "D"):
        net = nets[name].module
        attn = [m for m in net.modules() if isinstance(m, SelfAttention)]
        assert len(attn) == 1, name
        seen = []
        attn[0].register_forward_hook(lambda m, i, o, seen=seen: seen.append(o.shape[-1]))
        x = torch.randn(2, 8) if name == "G" else torch.randn(2, 1, 32, 32)
        assert torch.isfinite(net(x, torch.tensor([0, 1]))).all() and seen == [16]
    with pytest.raises(GankitError, match="8, 16, 32"):
        resolved("biggan", data, attention=12)


def test_orthogonal_term_gives_biggans_gradient():
    # BigGAN adds 2 beta (W W^T * (1 - I)) W to G's gradient; the term's gradient must be that
    w = torch.randn(6, 10, requires_grad=True)
    beta = 1e-4
    (0.5 * beta * off_diagonal_gram(w)).backward()
    with torch.no_grad():
        expected = 2 * beta * ((w @ w.t()) * (1 - torch.eye(6))) @ w
    assert torch.allclose(w.grad, expected, rtol=1e-5, atol=1e-10)
    q = torch.linalg.qr(torch.randn(10, 6)).Q.t() * 3.0  # orthogonal rows of any norm: no penalty
    assert off_diagonal_gram(q) < 1e-8
    assert g_orthogonal.__name__ == "g_orthogonal"


def test_biggan_trains_with_the_orthogonal_term_in_its_g_phase(tmp_path):
    import gankit

    data = tiny_images((1, 8, 8))
    common = ["model.width=4", "model.latent_dim=8", "train.batch_size=8", "monitor.eval_every=0"]
    gankit.train(data="tiny", model="biggan", steps=2, real_data=data, out=tmp_path / "on", overrides=common)
    off = [*common, "model.ortho=0"]
    gankit.train(data="tiny", model="biggan", steps=2, real_data=data, out=tmp_path / "off", overrides=off)
    on_stats = json.loads((tmp_path / "on" / "stats.jsonl").read_text().splitlines()[-1])
    off_stats = json.loads((tmp_path / "off" / "stats.jsonl").read_text().splitlines()[-1])
    assert on_stats["loss/ortho"] > 0 and "loss/ortho" not in off_stats


def test_unsupported_shared_options_are_one_line_errors():
    data = tiny_images()
    with pytest.raises(GankitError, match="weight_init"):
        resolved("sngan", data, init="he")
    with pytest.raises(GankitError, match="d_norm"):
        resolved("biggan", data, d_norm="batch")
    with pytest.raises(GankitError, match="shared_dim"):
        resolved("biggan", data, shared_dim=0)


def test_the_blocks_module_imports_on_its_own():
    # nn/ sits below models/: importing it first must not go through the families that use it
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", "import gankit.nn.resnet"], check=True)
