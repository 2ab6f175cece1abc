"""``gankit tabular ...``: fit, sample, evaluate and list tables. Heavy imports stay inside commands."""

from __future__ import annotations

from pathlib import Path

import typer

from gankit.errors import GankitError

app = typer.Typer(no_args_is_help=True, help="Synthetic tables: fit a CTGAN-class model, sample, evaluate.")


def read_table(path: str | Path):
    """A CSV or parquet file, or the name of a built-in table, as a DataFrame."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        from gankit.tabular.datasets import TABLES

        if str(path) in TABLES:
            return TABLES.get(str(path)).load()
        raise GankitError(
            f"not found: {p}",
            f"pass a .csv or .parquet file, or a built-in table ({', '.join(TABLES.names())})",
        )
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        elif p.suffix.lower() in (".csv", ".txt", ".gz"):
            df = pd.read_csv(p)
        else:
            raise GankitError(f"can't read '{p.suffix or p.name}'", "pass a .csv or .parquet file")
    except GankitError:
        raise
    except ImportError as e:
        raise GankitError(
            f"reading {p.name} needs {e.name or 'pyarrow'}", "pip install pyarrow, or convert to CSV"
        ) from None
    except Exception as e:
        raise GankitError(f"{p} is not a readable table ({type(e).__name__})", "check the file") from None
    if len(df) == 0 or len(df.columns) == 0:
        raise GankitError(f"{p} holds an empty table", "give a file with a header and at least one row")
    return _parse_dates(df)


def _parse_dates(df):
    """CSV text columns that are all ISO dates (2024-01-31, 2024-01-31T12:00) become datetimes."""
    import pandas as pd

    for c in df.columns:
        s = df[c]
        if s.dtype == object and s.notna().any():
            text = s.dropna().astype(str)
            if text.str.match(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$").all():
                df[c] = pd.to_datetime(s, format="ISO8601")
    return df


def write_table(df, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".parquet", ".pq"):
        df.to_parquet(out, index=False)
    else:
        df.to_csv(out, index=False)


def column_list(text: str | None) -> list[str] | None:
    """``a,b`` -> ["a", "b"]; None for no text."""
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def _metadata(path: Path | None) -> dict | None:
    from gankit.tabular.table import read_metadata

    return read_metadata(str(path)) if path is not None else None


@app.command()
def fit(
    data: str | None = typer.Argument(
        None, help="A .csv/.parquet file or a built-in table (`gankit tabular datasets`)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="The run directory (new or empty; default: a new one under runs/)."
    ),
    resume: Path | None = typer.Option(None, "--resume", help="Continue this run directory exactly."),
    discrete: str | None = typer.Option(
        None, "--discrete", help="Discrete columns, e.g. a,b (added to inferred)."
    ),
    metadata: Path | None = typer.Option(None, "--metadata", help="SDV-style column types (.json/.yaml)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Passes over the table (default 300)."),
    batch_size: int | None = typer.Option(None, "--batch-size"),
    dp_epsilon: float | None = typer.Option(
        None, "--dp-epsilon", help="Train the critic with DP-SGD to this ε."
    ),
    dp_delta: float | None = typer.Option(None, "--dp-delta", help="DP δ (default 1 / (10 × rows))."),
    device: str = typer.Option("auto", "--device"),
    seed: int = typer.Option(0, "--seed"),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where numbered run directories go."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Fit a synthesizer to a table: a run directory with config.yaml, stats.jsonl, checkpoints/,
    model/ (config.json, transformer.json, model.safetensors) and report.html."""
    from gankit.tabular.datasets import TABLES
    from gankit.tabular.synthesizer import TabularGAN

    if resume is not None:
        if data is not None or discrete or metadata or batch_size or dp_epsilon or dp_delta:
            raise GankitError(
                "--resume continues a run with its own table and settings",
                "drop DATA and the data/model flags (--epochs N trains it further)",
            )
        gan = TabularGAN.resume(resume, epochs=epochs, progress=progress)
        _report_fit(gan, resume, None)
        return
    if data is None:
        raise GankitError(
            "no table given", "gankit tabular fit DATA (a .csv/.parquet file or a built-in table)"
        )
    df = read_table(data)
    columns = column_list(discrete)
    if columns is None and data in TABLES and not Path(data).exists():
        columns = list(TABLES.get(data).discrete)
    gan = TabularGAN(epochs=epochs or 300, batch_size=batch_size, dp_epsilon=dp_epsilon, dp_delta=dp_delta,
                     device=device, seed=seed)  # fmt: skip
    from gankit.training.rundir import claim_out_dir, new_run_dir

    run_dir = claim_out_dir(out) if out is not None else new_run_dir(runs_dir, "ctgan", data)
    gan.fit(df, discrete_columns=columns, metadata=_metadata(metadata), out=run_dir, name=_data_name(data),
            metadata_path=str(metadata.resolve()) if metadata else None, progress=progress)  # fmt: skip
    _report_fit(gan, run_dir, len(df))


def _data_name(data: str) -> str:
    """What config.yaml records: a built-in name, or the file's absolute path (so --resume finds it)."""
    return str(Path(data).resolve()) if Path(data).exists() else data


def _report_fit(gan, run_dir: Path, rows: int | None) -> None:
    size = f"{rows} rows, " if rows is not None else ""
    typer.echo(f"model:   {run_dir / 'model'}  ({size}{gan.result.seconds:.1f} s of training)")
    if gan.dp_epsilon_spent is not None:
        typer.echo(
            f"privacy: ε = {gan.dp_epsilon_spent:.3f} spent (asked {gan.dp_epsilon}), δ = {gan.dp_delta:.2e}"
        )
    typer.echo(f"next:    gankit tabular sample {run_dir} -n {rows or 1000} --out synth.csv")


@app.command()
def sample(
    model: Path = typer.Argument(..., help="A directory written by `gankit tabular fit`."),
    n: int = typer.Option(1000, "-n", help="Rows to generate."),
    out: Path = typer.Option(..., "--out", help=".csv or .parquet"),
    condition: list[str] = typer.Option([], "--condition", help="col=value (repeatable)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Generate rows, optionally with columns fixed to values."""
    from gankit.tabular.rows import RowSampler  # numpy only: no torch import for a sampling process

    if out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise GankitError(f"can't write '{out.suffix or out.name}'", "use --out with .csv or .parquet")
    conditions = {}
    for c in condition:
        if "=" not in c:
            raise GankitError(f"--condition '{c}' is not col=value", "e.g. --condition species=setosa")
        k, v = c.split("=", 1)
        conditions[k.strip()] = v.strip()
    write_table(RowSampler.load(model).sample(n, conditions=conditions or None, seed=seed), out)
    typer.echo(f"wrote {n} rows to {out}")


@app.command()
def evaluate(
    real: str = typer.Argument(..., help="The real table (.csv/.parquet or a built-in name)."),
    synthetic: Path = typer.Argument(..., help="The synthetic table."),
    target: str | None = typer.Option(None, "--target", help="Column to predict for ML efficacy."),
    holdout: Path | None = typer.Option(
        None, "--holdout", help="Real rows kept out of fit: clean test + baseline."
    ),
    discrete: str | None = typer.Option(None, "--discrete", help="Discrete columns, e.g. a,b."),
    metadata: Path | None = typer.Option(None, "--metadata", help="SDV-style column types (.json/.yaml)."),
    out: Path = typer.Option(
        Path("tabular-report"), "--out", help="Directory for report.json + report.html."
    ),
) -> None:
    """Quality (sdmetrics), ML efficacy and privacy of a synthetic table; JSON + HTML report."""
    from gankit.tabular.report import evaluate as run
    from gankit.tabular.report import summary, write_report

    real_df, synth_df = read_table(real), read_table(synthetic)
    hold_df = read_table(holdout) if holdout is not None else None
    result = run(real_df, synth_df, target=target, holdout=hold_df, discrete_columns=column_list(discrete),
                 metadata=_metadata(metadata))  # fmt: skip
    json_path, html_path = write_report(result, real_df, synth_df, out)
    typer.echo(summary(result))
    typer.echo(f"report:  {html_path}  ({json_path.name} beside it)")


@app.command()
def datasets() -> None:
    """List the built-in tables."""
    from gankit.tabular.datasets import TABLES

    for name, t in TABLES.items():
        typer.echo(f"{name:14s} target={t.target:10s} {t.description}")
