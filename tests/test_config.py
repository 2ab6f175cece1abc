"""Config: YAML round trip, overrides, recipes and validation."""

import pytest

from gankit.config import Config, apply_overrides
from gankit.data import load_data
from gankit.errors import GankitError
from gankit.training.setup import resolve_config


def test_yaml_round_trip(tmp_path):
    cfg = apply_overrides(Config(), ["model.width=32", "optim.betas_g=0.0,0.9", "loss.name=hinge", "steps=7"])
    cfg.save_yaml(tmp_path / "c.yaml")
    back = Config.load_yaml(tmp_path / "c.yaml")
    assert back == cfg
    assert back.optim.betas_g == (0.0, 0.9) and back.train.steps == 7


def test_recipe_order_user_then_loss_then_dataset_then_defaults():
    ring = load_data(Config().data.__class__("ring8"))
    cfg = resolve_config(
        apply_overrides(Config(), ["data.name=ring8", "loss.name=wgan-gp", "optim.lr_d=3e-4"]), ring
    )
    assert cfg.model.name == "mlp"  # the dataset's family
    assert cfg.optim.lr_d == 3e-4  # the user's setting wins
    assert cfg.optim.lr_g == 1e-4 and cfg.optim.n_critic == 5  # WGAN-GP's recommendations
    assert cfg.optim.betas_g == (0.0, 0.9)
    assert cfg.model.width == 256  # the ring8 recipe
    assert cfg.model.d_norm == "none"  # no batch norm in a gradient-penalty critic


@pytest.mark.parametrize(
    "pair,message",
    [
        ("model.width=abc", "not a valid int"),
        ("model.prior=laplace", "not a valid option"),
        ("nosuchkey=1", "unknown option"),
        ("bogus.width=1", "unknown section"),
        ("model.width", "expects key=value"),
        ("optim.betas_g=0.5", "needs 2"),
    ],
)
def test_bad_overrides(pair, message):
    with pytest.raises(GankitError, match=message):
        apply_overrides(Config(), [pair])


def test_bad_yaml(tmp_path):
    (tmp_path / "a.yaml").write_text("model: [unclosed")
    with pytest.raises(GankitError, match="not valid YAML"):
        Config.load_yaml(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("model:\n  colour: red\n")
    with pytest.raises(GankitError, match="unknown option 'model.colour'"):
        Config.load_yaml(tmp_path / "b.yaml")


def test_invalid_values_are_refused():
    data = load_data(Config().data.__class__("ring8"))
    for pair in ["optim.ema=1.5", "optim.lr_g=-1", "train.batch_size=0", "optim.n_critic=0"]:
        with pytest.raises(GankitError, match="invalid config"):
            resolve_config(apply_overrides(Config(), ["data.name=ring8", pair]), data)
