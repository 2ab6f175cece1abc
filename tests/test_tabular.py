"""Tabular synthesis: the transformer's round trip, conditions, save/load, learning, DP, reports, CLI."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from gankit.cli import main
from gankit.errors import GankitError
from gankit.tabular.datasets import TABLES, load_table
from gankit.tabular.privacy import privacy_report
from gankit.tabular.quality import quality_report, sdv_metadata
from gankit.tabular.synthesizer import TabularGAN
from gankit.tabular.transformer import DataTransformer, infer_kinds


def mixed_table(n=240, seed=0) -> pd.DataFrame:
    """Every column kind, most with missing values."""
    rng = np.random.default_rng(seed)
    hole = lambda p: rng.random(n) < p  # noqa: E731
    return pd.DataFrame(
        {
            "bimodal": np.round(np.r_[rng.normal(0, 1, n // 2), rng.normal(10, 2, n - n // 2)], 3),
            "precise": rng.exponential(3, n),  # full float precision
            "with_gaps": np.where(hole(0.3), np.nan, rng.normal(5, 1, n)),
            "count": rng.integers(0, 100, n),
            "count_gaps": pd.array(np.where(hole(0.2), None, rng.integers(0, 5, n)), dtype="Int64"),
            "city": rng.choice(["Oslo", "Lima", "Pune", None], n),
            "flag": rng.random(n) < 0.5,
            "flag_gaps": pd.array(np.where(hole(0.2), None, rng.random(n) < 0.5), dtype="boolean"),
            "day": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D"),
            "moment": (
                pd.Timestamp("2021-03-04") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s")
            ).where(~hole(0.25)),
            "size": pd.Categorical(rng.choice(["S", "M", "L"], n)),
        }
    )


# ---- transformer ---------------------------------------------------------------------------------
@pytest.mark.parametrize("sampled_modes", [False, True])
def test_transformer_round_trip_is_exact_with_missing_values(sampled_modes):
    df = mixed_table()
    t = DataTransformer().fit(df)
    rng = np.random.default_rng(1) if sampled_modes else None
    matrix = t.transform(df, rng=rng)
    assert matrix.shape == (len(df), t.output_dim)
    back = t.inverse_transform(matrix)
    pd.testing.assert_frame_equal(back, df, check_exact=False, rtol=1e-12)
    assert back["with_gaps"].isna().sum() == df["with_gaps"].isna().sum() > 0
    # the state is plain JSON and rebuilds the same transformer
    again = DataTransformer.from_state(json.loads(json.dumps(t.state())))
    pd.testing.assert_frame_equal(again.inverse_transform(matrix), df, check_exact=False, rtol=1e-12)


def test_transformer_finds_modes_of_a_bimodal_column():
    t = DataTransformer().fit(mixed_table())
    means = sorted(t.column("bimodal").means)
    assert min(abs(m - 0) for m in means) < 0.5 and min(abs(m - 10) for m in means) < 1.0


def test_column_kinds_inferred_and_overridden():
    df = mixed_table()
    kinds = infer_kinds(df)
    assert kinds["bimodal"] == "continuous" and kinds["count"] == "integer" and kinds["day"] == "datetime"
    assert kinds["city"] == "categorical" and kinds["flag"] == "boolean" and kinds["size"] == "categorical"
    kinds = infer_kinds(df, ["count"], {"columns": {"precise": {"sdtype": "categorical"}}})
    assert kinds["count"] == "categorical" and kinds["precise"] == "categorical"
    with pytest.raises(GankitError, match="'nope' is not in the table"):
        infer_kinds(df, ["nope"])
    with pytest.raises(GankitError, match="empty"):
        DataTransformer().fit(df.iloc[:0])


# ---- synthesizer ---------------------------------------------------------------------------------
def correlated_table(n=300, seed=0) -> pd.DataFrame:
    """x drives y (y = 2x + noise) and the band; the band and the shop are discrete."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "x": np.round(x, 3),
            "y": np.round(2 * x + rng.normal(0, 0.3, n), 3),
            "band": np.where(x > 0, "high", "low"),
            "shop": rng.choice(["north", "south", "east"], n, p=[0.6, 0.3, 0.1]),
        }
    )


@pytest.fixture(scope="module")
def fitted():
    df = correlated_table()
    gan = TabularGAN(epochs=300, seed=0)
    return df, gan.fit(df, discrete_columns=["band", "shop"])


@pytest.mark.slow
def test_short_fit_learns_the_table(fitted):
    df, gan = fitted
    synth = gan.sample(600, seed=0)
    assert list(synth.columns) == list(df.columns) and len(synth) == 600
    assert synth["x"].dtype == df["x"].dtype and set(synth["band"]) <= {"high", "low"}
    assert np.corrcoef(synth["x"], synth["y"])[0, 1] > 0.25  # independent columns would give 0
    # beats a trivial synthesizer: each column drawn independently and uniformly over its values
    rng = np.random.default_rng(0)
    trivial = pd.DataFrame(
        {
            "x": rng.uniform(df.x.min(), df.x.max(), 600),
            "y": rng.uniform(df.y.min(), df.y.max(), 600),
            "band": rng.choice(["high", "low"], 600),
            "shop": rng.choice(["north", "south", "east"], 600),
        }
    )
    md = sdv_metadata(df, ["band", "shop"])
    learned, baseline = quality_report(df, synth, md)["score"], quality_report(df, trivial, md)["score"]
    assert learned > baseline + 0.1, (learned, baseline)


def test_conditional_sampling_honours_conditions(fitted):
    _, gan = fitted
    rare = gan.sample(200, conditions={"shop": "east"}, seed=1)
    assert len(rare) == 200 and (rare["shop"] == "east").all()
    both = gan.sample(50, conditions={"shop": "south", "band": "high"}, seed=2)  # rejection on the 2nd
    assert len(both) == 50 and (both["shop"] == "south").all() and (both["band"] == "high").all()
    with pytest.raises(GankitError, match="has no value 'west'"):
        gan.sample(5, conditions={"shop": "west"})
    with pytest.raises(GankitError, match="'colour' is not in the table"):
        gan.sample(5, conditions={"colour": "red"})


def test_save_load_gives_the_same_samples(fitted, tmp_path):
    _, gan = fitted
    gan.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "config.json",
        "model.safetensors",
        "transformer.json",
    ]
    loaded = TabularGAN.load(tmp_path / "model")
    pd.testing.assert_frame_equal(loaded.sample(300, seed=7), gan.sample(300, seed=7))
    east = {"shop": "east"}
    pd.testing.assert_frame_equal(
        loaded.sample(30, seed=3, conditions=east), gan.sample(30, seed=3, conditions=east)
    )
    assert not gan.sample(50, seed=1).equals(gan.sample(50, seed=2))
    assert TabularGAN.load(tmp_path).sample(5, seed=7).equals(gan.sample(5, seed=7))  # a run dir's model/
    (tmp_path / "empty").mkdir()
    with pytest.raises(GankitError, match="not a tabular model"):
        TabularGAN.load(tmp_path / "empty")


def test_numpy_sampling_is_the_generators_forward_and_draws_categories_at_their_frequencies(fitted):
    from gankit.tabular.rows import RowSampler

    df, gan = fitted
    weights = {k: v.numpy() for k, v in gan.generator.state_dict().items()}
    rows = RowSampler(gan.transformer, weights, gan.latent_dim)
    rng = np.random.default_rng(0)
    cond = rows.conditions(4000, rng)
    z = rng.standard_normal((4000, gan.latent_dim), dtype=np.float32)
    with torch.no_grad():
        reference = gan.generator.eval()(torch.from_numpy(z), torch.from_numpy(cond)).numpy()
    np.testing.assert_allclose(rows.forward(z, cond), reference, rtol=1e-4, atol=1e-4)
    # each discrete column is conditioned on half the time; its categories at their real shares
    shop = cond[:, rows.offsets[rows.columns.index("shop")] :][:, :3]
    info = gan.transformer.column("shop")
    real = np.asarray(info.counts) / sum(info.counts)
    np.testing.assert_allclose(shop.sum(0) / shop.sum(), real, atol=0.04)


def test_sampling_command_does_not_import_torch(fitted, tmp_path):
    import subprocess
    import sys

    _, gan = fitted
    gan.save(tmp_path / "m")
    code = (
        "import sys; from gankit.cli import main\n"
        "try: main(['tabular', 'sample', sys.argv[1], '-n', '20', '--out', sys.argv[2]])\n"
        "except SystemExit as e: assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "m"), str(tmp_path / "s.csv")], check=True)
    assert len(pd.read_csv(tmp_path / "s.csv")) == 20


def test_mixed_table_fits_and_samples_missing_values():
    df = mixed_table(n=120)
    gan = TabularGAN(epochs=2, g_dims=(32,), d_dims=(32,), latent_dim=16).fit(df)
    synth = gan.sample(400, seed=0)
    assert synth.dtypes.to_dict() == df.dtypes.to_dict()
    assert synth["with_gaps"].isna().any() and synth["with_gaps"].notna().any()
    assert synth["day"].between(df["day"].min(), df["day"].max()).all()
    gaps = gan.sample(20, conditions={"city": None}, seed=0)
    assert gaps["city"].isna().all()


@pytest.mark.slow
def test_dp_training_spends_at_most_the_budget():
    df = correlated_table(n=200)
    gan = TabularGAN(epochs=4, g_dims=(32,), d_dims=(32,), latent_dim=16, dp_epsilon=2.0, seed=0)
    gan.fit(df, discrete_columns=["band", "shop"])
    assert 0.5 < gan.dp_epsilon_spent <= 2.0
    assert gan.dp_delta == pytest.approx(1 / 2000)
    assert len(gan.sample(10)) == 10
    with pytest.raises(GankitError, match="must be > 0"):
        TabularGAN(dp_epsilon=0).fit(df)


# ---- reports -------------------------------------------------------------------------------------
def test_privacy_report_flags_copies():
    df = correlated_table(n=200)
    train, hold = df.iloc[:100].reset_index(drop=True), df.iloc[100:].reset_index(drop=True)
    md = sdv_metadata(df, ["band", "shop"])
    copied = privacy_report(train, train, md, hold)
    assert copied["synthetic"]["exact_copy_rate"] == 1.0 and copied["mia_auc"] > 0.9
    fresh = privacy_report(train, hold, md, hold.sample(frac=1, random_state=0))
    assert fresh["synthetic"]["exact_copy_rate"] == 0.0 and fresh["synthetic"]["dcr_median"] > 0
    assert quality_report(train, train, md)["score"] > 0.99


def test_builtin_tables_load():
    for name in ("iris", "wine", "autompg"):
        df, discrete, target = load_table(name)
        assert len(df) > 100 and target in df.columns and set(discrete) <= set(df.columns)
        assert not df.isna().all().any()
    assert "breast-cancer" in TABLES


# ---- command line --------------------------------------------------------------------------------
def test_cli_fit_sample_evaluate(tmp_path, capsys):
    csv = tmp_path / "table.csv"
    correlated_table(n=120).assign(when=pd.Timestamp("2024-01-01")).to_csv(csv, index=False)
    main(["tabular", "fit", str(csv), "--discrete", "band,shop", "--epochs", "2",
          "--out", str(tmp_path / "m")])  # fmt: skip
    main(["tabular", "sample", str(tmp_path / "m"), "-n", "40", "--out", str(tmp_path / "s.csv"),
          "--condition", "shop=east"])  # fmt: skip
    synth = pd.read_csv(tmp_path / "s.csv")
    assert len(synth) == 40 and (synth["shop"] == "east").all() and (synth["when"] == "2024-01-01").all()
    main(["tabular", "evaluate", str(csv), str(tmp_path / "s.csv"), "--target", "band", "--discrete",
          "band,shop", "--out", str(tmp_path / "r")])  # fmt: skip
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert 0 <= report["quality"]["score"] <= 1 and report["ml_efficacy"]["metric"] == "macro_f1"
    assert "<svg" in (tmp_path / "r" / "report.html").read_text()
    assert "quality (sdmetrics)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["tabular", "fit", "missing.csv", "--out", "m"], "not found: missing.csv"),
        (["tabular", "fit", "{csv}", "--discrete", "nope", "--out", "m"], "'nope' is not in the table"),
        (["tabular", "fit", "{empty}", "--out", "m"], "empty table"),
        (["tabular", "sample", "{csv}", "--out", "s.csv"], "is not a tabular model"),
    ],
)
def test_cli_errors_are_one_line(args, message, tmp_path, capsys):
    csv, empty = tmp_path / "t.csv", tmp_path / "e.csv"
    correlated_table(n=20).to_csv(csv, index=False)
    empty.write_text("a,b\n")
    args = [a.format(csv=csv, empty=empty) for a in args]
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_mask_dropout_matches_dropout_in_distribution():
    from gankit.tabular.model import MaskDropout

    torch.manual_seed(0)
    layer, x = MaskDropout(0.5), torch.ones(200, 500)
    out = layer(x)
    assert set(out.unique().tolist()) == {0.0, 2.0}  # kept units are scaled by 1 / (1 - p)
    assert abs((out == 0).float().mean().item() - 0.5) < 0.01 and abs(out.mean().item() - 1.0) < 0.02
    assert torch.equal(layer.eval()(x), x)
