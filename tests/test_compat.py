"""What gankit 0.1 wrote keeps working: its run directories resume and sample, its exports load.

The fixtures in tests/fixtures/release-0.1.0 were written by that release (see the README there).
"""

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import gankit
from gankit.config import Config
from gankit.pretrained import GAN
from gankit.training.checkpoint import latest_checkpoint, load_checkpoint

FIXTURES = Path(__file__).parent / "fixtures" / "release-0.1.0"
RUNS = {"mlp-ring8": 20, "dcgan-digits": 8}


@pytest.fixture
def old_run(tmp_path):
    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(FIXTURES / name, target)
        return target

    return copy


@pytest.mark.parametrize("name", RUNS)
def test_a_0_1_run_resumes_to_the_weights_of_its_uninterrupted_run(old_run, name):
    run = old_run(name)
    state = load_checkpoint(latest_checkpoint(run), torch.device("cpu"))
    assert state["step"] == RUNS[name] // 2 and state["stage"]["index"] == 0  # read as format 2
    result = gankit.train(resume=run)
    assert result.step == RUNS[name]
    resumed = load_file(run / "model" / "model.safetensors")
    reference = load_file(run / "uninterrupted-model.safetensors")  # written by 0.1 in one go
    assert resumed.keys() == reference.keys()
    for k in reference:  # the same computation; a tolerance for other CPUs' kernels
        torch.testing.assert_close(resumed[k], reference[k], rtol=1e-4, atol=1e-5, msg=k)
    gan = gankit.load(run)
    x = gan.sample(6, seed=0)
    assert torch.isfinite(x).all() and torch.equal(x, gan.sample(6, seed=0))


@pytest.mark.parametrize("name", RUNS)
def test_a_0_1_export_loads_and_samples(name):
    gan = GAN.from_pretrained(FIXTURES / name)
    assert gan.meta.get("task") is None  # written before exports named their task
    x, y = gan.sample(10, seed=1, return_labels=True)
    assert x.shape[0] == 10 and torch.isfinite(x).all()
    assert (y is not None) == (name == "dcgan-digits")


def test_a_0_1_config_yaml_reads_with_every_family_option_flat():
    cfg = Config.load_yaml(FIXTURES / "dcgan-digits" / "config.yaml")
    assert cfg.model.width == 4 and cfg.model.options["depth"] == 3  # mlp's, at its 0.1 default
    mlp = Config.load_yaml(FIXTURES / "mlp-ring8" / "config.yaml")
    assert mlp.model.width == 16 and mlp.model.options["upsample"] == "transposed"


def test_resume_accepts_a_checkpoint_without_a_field_added_since(old_run):
    """A model config saved before an option existed means the option's old default."""
    import yaml

    run = old_run("dcgan-digits")
    for path in (run / "config.yaml",):
        d = yaml.safe_load(path.read_text())
        del d["model"]["extra_convs"], d["model"]["upsample"]
        path.write_text(yaml.safe_dump(d, sort_keys=False))
    ckpt = latest_checkpoint(run)
    state = torch.load(ckpt, weights_only=True)
    del state["config"]["model"]["extra_convs"], state["config"]["model"]["upsample"]
    torch.save(state, ckpt)
    assert gankit.train(resume=run).step == RUNS["dcgan-digits"]


def test_a_0_1_tabular_model_loads_and_samples_as_it_did():
    import pandas as pd

    from gankit.tabular.synthesizer import TabularGAN

    gan = gankit.load(FIXTURES / "tab-iris")
    assert isinstance(gan, TabularGAN)
    expected = pd.read_csv(FIXTURES / "tab-iris" / "sample-seed0.csv")
    got = TabularGAN.load(FIXTURES / "tab-iris").sample(5, seed=0)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False, atol=0.11)


def test_the_sampling_command_samples_a_0_1_tabular_model_as_it_did(tmp_path):
    import pandas as pd

    from gankit.cli import main

    main(
        [
            "tabular",
            "sample",
            str(FIXTURES / "tab-iris"),
            "-n",
            "5",
            "--seed",
            "0",
            "--out",
            str(tmp_path / "s.csv"),
        ]
    )
    expected = pd.read_csv(FIXTURES / "tab-iris" / "sample-seed0.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "s.csv"), expected, check_dtype=False, atol=0.11)


def test_sampling_a_tabular_model_as_a_generator_names_the_right_command():
    from gankit.errors import GankitError

    with pytest.raises(GankitError, match="gankit tabular sample"):
        GAN.from_pretrained(FIXTURES / "tab-iris")
