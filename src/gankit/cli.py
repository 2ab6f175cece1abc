"""The `gankit` command: a thin typer layer over the Python API (each command parses, then calls it)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

try:  # typer >= 0.2x vendors click; older releases use click itself
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import UsageError

from gankit.errors import GankitError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train, sample and evaluate generative adversarial networks.",
)
_state = {"debug": False}

from gankit.tabular.cli import app as _tabular_app  # noqa: E402  (typer only; pandas loads inside commands)

app.add_typer(_tabular_app, name="tabular")

from gankit.translation.cli import register as _register_translation  # noqa: E402

_register_translation(app)  # translate, colorize, inpaint, upscale

from gankit.interpolate import register as _register_interpolate  # noqa: E402

_register_interpolate(app)  # interpolate

from gankit.latent_cli import register as _register_latent_tools  # noqa: E402

_register_latent_tools(app)  # style-mix, project


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks.")) -> None:
    _state["debug"] = debug


@app.command()
def train(
    config: Path | None = typer.Option(
        None, "--config", help="YAML config file (sections: data, model, ...)."
    ),
    data: str | None = typer.Option(None, "--data", help="Dataset name (`gankit datasets`) or a path."),
    model: str | None = typer.Option(None, "--model", help="Model family (`gankit models`)."),
    loss: str | None = typer.Option(None, "--loss", help="Adversarial loss (`gankit losses`)."),
    steps: int | None = typer.Option(None, "--steps", help="Generator steps (with --minutes: the most)."),
    minutes: float | None = typer.Option(
        None, "--minutes", help="Wall-clock budget: as many steps as fit, every schedule following them."
    ),
    batch_size: str | None = typer.Option(
        None, "--batch-size", help="Per process; 'auto': the largest that fits train.memory_budget_mb."
    ),
    lr_g: float | None = typer.Option(None, "--lr-g", help="Generator learning rate."),
    lr_d: float | None = typer.Option(None, "--lr-d", help="Discriminator learning rate."),
    n_critic: int | None = typer.Option(None, "--n-critic", help="D steps per G step."),
    seed: int | None = typer.Option(None, "--seed"),
    resolution: int | None = typer.Option(None, "--resolution", help="Image size to train at."),
    latent_dim: int | None = typer.Option(None, "--latent-dim"),
    width: int | None = typer.Option(None, "--width", help="Base width of the networks."),
    conditional: bool | None = typer.Option(
        None, "--conditional/--unconditional", help="Condition on the dataset's labels."
    ),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda or mps."),
    precision: str | None = typer.Option(
        None, "--precision", help="fp32 (default), bf16 or fp16 (CUDA) mixed precision via torch.amp."
    ),
    compile_: bool | None = typer.Option(
        None, "--compile/--no-compile", help="torch.compile the networks (slower start, faster steps)."
    ),
    out: Path | None = typer.Option(None, "--out", help="The run directory (must be new or empty)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where numbered run directories go."),
    resume: Path | None = typer.Option(None, "--resume", help="Continue this run directory exactly."),
    set_: list[str] = typer.Option([], "--set", help="Any config field: --set model.width=32 (repeatable)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    eval_every: int | None = typer.Option(
        None, "--eval-every", help="Steps between evaluations during training (0: off; auto: 10 a run)."
    ),
    keep_best: str | None = typer.Option(
        None, "--keep-best", help="Keep the best generator in best/ by this metric[.key]."
    ),
) -> None:
    """Train a GAN. With no arguments: DCGAN on the bundled MNIST digits."""
    import gankit

    options = dict(
        data=data,
        model=model,
        loss=loss,
        steps=steps,
        minutes=minutes,
        batch_size=batch_size,
        lr_g=lr_g,
        lr_d=lr_d,
        n_critic=n_critic,
        seed=seed,
        latent_dim=latent_dim,
        width=width,
        conditional=conditional,
        device=device,
        precision=precision,
        compile=compile_,
    )
    if resolution is not None:
        options["data.resolution"] = resolution
    if eval_every is not None:
        options["monitor.eval_every"] = eval_every
    if keep_best is not None:
        options["monitor.keep_best"] = keep_best
    if resume is not None and (config is not None or out is not None):
        raise GankitError(
            "--resume continues a run with its own config and directory", "drop --config/--out when resuming"
        )
    result = gankit.train(
        config, out=out, runs_dir=runs_dir, resume=resume, overrides=set_, progress=progress, **options
    )
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 alone reports
        return
    run_dir = result.run_dir
    grids = sorted(run_dir.glob("fakes_*.png"))
    if result.interrupted:
        typer.echo(
            f"interrupted at step {result.step}; checkpoint saved. Resume: gankit train --resume {run_dir}"
        )
        raise typer.Exit(130)
    typer.echo(f"run:     {run_dir}")
    if grids:
        typer.echo(f"samples: {grids[-1]}")
    typer.echo(f"model:   {result.model_dir}")
    report = run_dir / "report.html"
    if report.exists():
        typer.echo(f"report:  {report}")
    from gankit.pretrained import find_model_dir, read_config, task_of

    meta = read_config(find_model_dir(run_dir))
    if task_of(meta) == "synthesize":
        typer.echo(f"next:    gankit tabular sample {run_dir} -n 1000 --out synth.csv")
    elif task_of(meta) == "translate":
        from gankit.translation.cli import next_step

        typer.echo(f"next:    {next_step(run_dir, meta)}")
    else:
        typer.echo(f"next:    gankit sample {run_dir} -n 64 --out samples.png ; gankit evaluate {run_dir}")


@app.command()
def sample(
    run: Path = typer.Argument(..., help="Run directory or model directory."),
    n: int = typer.Option(64, "-n", help="Number of samples."),
    out: Path = typer.Option(..., "--out", help=".png (grid), .npy (data space) or .npz (samples + labels)."),
    seed: int = typer.Option(0, "--seed"),
    labels: str | None = typer.Option(None, "--labels", help="Class labels, e.g. 3 or 0,1,2 (cycled)."),
    truncation: float | None = typer.Option(
        None, "--truncation", help="Truncation psi in (0, 1] (1: plain); stylegan: [0, 1] around the mean w."
    ),
    device: str = typer.Option("cpu", "--device"),
) -> None:
    """Draw samples from a trained generator."""
    import numpy as np

    from gankit.latent import check_truncation
    from gankit.pretrained import GAN
    from gankit.visual import save_samples_png

    suffix = out.suffix.lower()
    if suffix not in (".png", ".npy", ".npz"):
        raise GankitError(f"can't write '{out.suffix or out.name}'", "use --out with .png, .npy or .npz")
    if n < 1:
        raise GankitError(f"-n {n} asks for no samples", "use -n 1 or more")
    label_list = _parse_labels(labels)
    gan = GAN.from_pretrained(run, device=device)  # a generator; other tasks name their command
    check_truncation(truncation, gan.truncation_space)  # psi 0 only where truncation is in w
    x, y = gan.sample(n, seed=seed, labels=label_list, truncation=truncation, return_labels=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        grid = x * 2 - 1 if gan.meta["kind"] == "images" else x
        nrow = min(gan.num_classes, 16) if gan.num_classes and label_list is None else None
        save_samples_png(grid, out, gan.meta["data"].get("centres"), nrow=nrow)
    elif suffix == ".npy":
        np.save(out, x.numpy().astype(np.float32))
    else:
        arrays = {"samples": x.numpy().astype(np.float32)}
        if y is not None:
            arrays["labels"] = y.numpy()
        np.savez(out, **arrays)
    typer.echo(f"wrote {n} samples to {out}")


def _parse_labels(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GankitError(
            f"--labels '{text}' is not a list of integers", "e.g. --labels 3 or --labels 0,1,2"
        ) from None


@app.command()
def evaluate(
    run: Path | None = typer.Argument(None, help="Run directory or model directory."),
    n: int | None = typer.Option(None, "-n", help="Generated samples per metric (default: each metric's)."),
    metrics: str | None = typer.Option(None, "--metrics", help="Comma-separated metric names."),
    real: Path | None = typer.Option(None, "--real", help="Real samples (folder, .npy, .npz), with --fake."),
    fake: Path | None = typer.Option(None, "--fake", help="Generated samples to compare with --real."),
    extractor: str | None = typer.Option(
        None, "--extractor", help="Features: classifier[:<dataset>], random or inception."
    ),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device"),
) -> None:
    """Compute metrics (JSON on stdout): of a run (appended to its metrics.jsonl), or --real vs --fake."""
    import gankit

    names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    if n is not None and n < 2:
        raise GankitError(f"-n {n} is too few samples to measure", "use -n 2 or more")
    if (real is None) != (fake is None):
        raise GankitError("--real and --fake go together", "pass both, e.g. --real data/ --fake samples.npz")
    if real is not None:
        if run is not None:
            raise GankitError("give either a run directory or --real/--fake", "drop one of them")
        results = gankit.compare(real, fake, metrics=names, n=n, seed=seed, extractor=extractor)
    elif run is None:
        raise GankitError("nothing to evaluate", "pass a run directory, or --real PATH --fake PATH")
    else:
        results = gankit.evaluate(run, metrics=names, n=n, seed=seed, device=device, extractor=extractor)
    if not results:
        raise GankitError("no metric applies to these samples", "see `gankit metrics` and pass --metrics")
    typer.echo(json.dumps(results, indent=2))


@app.command()
def report(run: Path = typer.Argument(..., help="Run directory.")) -> None:
    """Write RUN/report.html: config, curves, metrics, sample grids, warnings (viewable offline)."""
    from gankit.report import write_report

    if not (run / "config.yaml").is_file():
        raise GankitError(f"{run} is not a gankit run directory (no config.yaml)", "pass a run directory")
    typer.echo(f"report:  {write_report(run)}")


@app.command()
def datasets() -> None:
    """List the built-in datasets."""
    import gankit

    _table(gankit.list_datasets(), ["name", "shape", "size", "classes", "model", "description"])


@app.command()
def models(
    name: str | None = typer.Argument(None, help="A family: list its options with defaults and help."),
) -> None:
    """List the model families, or one family's options."""
    import gankit

    if name is None:
        _table(gankit.list_models(), ["name", "task", "description"])
        return
    info = gankit.describe_model(name)
    typer.echo(f"{info['name']} ({info['task']}): {info['description']}")
    typer.echo(f"networks: {', '.join(info['networks'])}" if info["networks"] else "")
    if info["options"]:
        typer.echo("\nits options (--set model.KEY=VALUE):")
        _table(info["options"], ["option", "default", "help"])
    typer.echo(f"\nshared options: {', '.join('model.' + k for k in info['shared'])}")


@app.command()
def losses() -> None:
    """List the adversarial losses."""
    import gankit

    _table(gankit.list_losses(), ["name", "description"])


@app.command("metrics")
def metrics_cmd() -> None:
    """List the metrics."""
    from gankit.metrics import METRICS

    _table(
        [{"name": m.name, "n": m.default_n, "description": m.description} for _, m in METRICS.items()],
        ["name", "n", "description"],
    )


def _table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    typer.echo("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        typer.echo("  ".join(str(r[c]).ljust(widths[c]) for c in columns).rstrip())


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2 (``--debug`` for the traceback)."""
    args = sys.argv[1:] if argv is None else argv
    _state["debug"] = "--debug" in args
    try:
        code = app(args=args, prog_name="gankit", standalone_mode=False)
        if isinstance(code, int) and code:  # typer.Exit(n) comes back as a return value here
            sys.exit(code)
    except GankitError as e:
        if _state["debug"]:
            raise
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except UsageError as e:
        hint = (
            f" (see `gankit {e.ctx.info_name} --help`)"
            if e.ctx and e.ctx.info_name != "gankit"
            else " (see `gankit --help`)"
        )
        typer.echo(f"error: {e.format_message()}{hint}", err=True)
        sys.exit(2)
    except OSError as e:  # the filesystem refused (a path under a file, read-only, full): say which path
        if _state["debug"]:
            raise
        typer.echo(f"error: {_os_error(e)}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


def _os_error(e: OSError) -> GankitError:
    from gankit import durable

    if durable.is_no_space(e):
        return durable.no_space_error(e, "try again")
    where = f" {e.filename}" if e.filename else ""
    return GankitError(f"can't use{where}: {e.strerror or e}", "check the path and its permissions")
