"""`gankit style-mix` and `gankit project`: the latent tools of gankit/latent_tools.py on a trained
generator that has per-layer styles (stylegan)."""

from __future__ import annotations

from pathlib import Path

import typer

from gankit.errors import GankitError

_RUN = typer.Argument(..., help="Run directory or model directory of a trained generator with styles.")
_DEVICE = typer.Option("cpu", "--device")
_LABEL = typer.Option(None, "--label", help="Class of every image (conditional models; default: per seed).")


def _load(run: Path, device: str, command: str):
    from gankit.latent_tools import require_styles
    from gankit.pretrained import GAN, find_model_dir, read_config, task_of

    meta = read_config(find_model_dir(run))
    if task_of(meta) != "generate":
        raise GankitError(f"{run} holds a model that does not generate from noise",
                          f"`gankit {command}` works with a trained stylegan generator")  # fmt: skip
    gan = GAN.from_pretrained(run, device=device)
    require_styles(gan, str(run), command)
    return gan


def style_mix(
    run: Path = _RUN,
    rows: str = typer.Option(..., "--rows", help="Seeds of the rows, e.g. 1,2,3 or 0-4."),
    cols: str = typer.Option(..., "--cols", help="Seeds of the columns, whose styles are mixed in."),
    layers: str | None = typer.Option(
        None, "--layers", help="Styles taken from the columns, a-b (default: the coarse half)."
    ),
    out: Path = typer.Option(..., "--out", help="Output grid (.png)."),
    label: int | None = _LABEL,
    truncation: float | None = typer.Option(None, "--truncation", help="psi in [0, 1] around the mean w."),
    device: str = _DEVICE,
) -> None:
    """Grid of style mixes: each row's image with the column image's styles in layers a-b."""
    from gankit.latent import check_truncation
    from gankit.latent_tools import parse_layers, parse_seeds
    from gankit.latent_tools import style_mix as mix
    from gankit.visual import save_samples_png

    if out.suffix.lower() != ".png":
        raise GankitError(f"--out {out} is not a .png file", "name the output FILE.png")
    row_seeds, col_seeds = parse_seeds(rows, "--rows"), parse_seeds(cols, "--cols")
    gan = _load(run, device, "style-mix")
    check_truncation(truncation, "w")
    a, b = parse_layers(layers, int(gan.meta["styles"]))
    grid, nrow = mix(gan, row_seeds, col_seeds, (a, b), label, truncation).grid()
    out.parent.mkdir(parents=True, exist_ok=True)
    save_samples_png(grid, out, nrow=nrow)
    typer.echo(
        f"wrote {out}: {len(row_seeds)} rows x {len(col_seeds)} columns, layers {a}-{b} from the columns"
    )


def project(
    run: Path = _RUN,
    image: Path = typer.Argument(..., help="The image to reproduce (PNG/JPEG; resized to the model's size)."),
    out: Path = typer.Option(..., "--out", help="Output directory."),
    steps: int = typer.Option(300, "--steps", help="Optimisation steps."),
    seed: int = typer.Option(0, "--seed"),
    wplus: bool = typer.Option(False, "--wplus", help="One w per layer (w+) instead of one w."),
    label: int | None = typer.Option(None, "--label", help="Class to start from (conditional models)."),
    device: str = _DEVICE,
) -> None:
    """Find the w (or w+) whose image is closest to IMAGE: projected.png, target.png, w.npy, progress.png."""
    import numpy as np
    import torch

    from gankit.latent_tools import check_label
    from gankit.latent_tools import project as run_projection
    from gankit.translation.imagefile import read_image, write_png
    from gankit.visual import save_samples_png

    if steps < 1:
        raise GankitError(f"--steps {steps} optimises nothing", "use --steps 1 or more, e.g. 300")
    if out.exists() and not out.is_dir():
        raise GankitError(f"--out {out} is a file", "pass a directory for the outputs")
    gan = _load(run, device, "project")
    if gan.meta["kind"] != "images":
        raise GankitError(f"{run} does not generate images", "project images with an image model")
    x = read_image(image, gan.meta["shape"][0])
    check_label(gan, label)
    result = run_projection(gan, x, steps=steps, seed=seed, wplus=wplus, label=label)
    out.mkdir(parents=True, exist_ok=True)
    write_png(result.image, out / "projected.png")
    write_png(result.target, out / "target.png")
    np.save(out / "w.npy", result.ws.numpy().astype(np.float32))
    strip = result.frames + [result.target]
    save_samples_png(torch.stack(strip), out / "progress.png", nrow=len(strip))
    typer.echo(f"wrote {out}: loss {result.losses[0]:.4f} -> {result.losses[-1]:.4f} in {steps} steps")


def register(app: typer.Typer) -> None:
    app.command("style-mix")(style_mix)
    app.command()(project)
