"""`gankit interpolate`: a trained generator's images along a path through the latents of seeds.

A seed's latent is the one ``GAN.sample(1, seed=s)`` draws, so the ends of each segment are that
seed's plain sample. The path between consecutive seeds is straight (lerp) or follows the great
circle (``--slerp``; White 2016, "Sampling Generative Networks": Gaussian latents live near a
sphere, which a straight line cuts through). A generator that exposes ``mapping(z, y)`` and
``synthesis(w)`` (a StyleGAN's) is interpolated in w instead, where its paths are smoother (Karras
et al. 2019); the test is for those two methods, not for a family's name. A conditional model keeps
its label fixed along the path: one row per class, or the row of ``--label``.

Writes a PNG strip (a row per label, a column per step) or an animated GIF (a frame per step).
"""

from __future__ import annotations

from pathlib import Path

import typer

from gankit.errors import GankitError

SUFFIXES = (".png", ".gif")
GIF_SIDE = 128  # GIF frames are enlarged (nearest) to about this many pixels per image: 32x32 is a speck


def lerp(a, b, t):
    """Points (len(t), *a.shape) on the segment a -> b; t = 0 and 1 give a and b exactly."""
    import torch

    return torch.stack([torch.lerp(a, b, float(w)) for w in t])


def slerp(a, b, t):
    """Points on the great circle from a to b (norms interpolated along with the angle, as in White
    2016); falls back to lerp for (anti)parallel ends. t = 0 and 1 give a and b exactly."""
    import torch

    a64, b64 = a.double().flatten(), b.double().flatten()
    cos = torch.dot(a64 / a64.norm(), b64 / b64.norm()).clamp(-1, 1)
    omega = torch.arccos(cos)
    if torch.sin(omega).abs() < 1e-6:
        return lerp(a, b, t)
    s = torch.sin(omega)
    out = [(torch.sin((1 - w) * omega) / s * a64 + torch.sin(w * omega) / s * b64) for w in map(float, t)]
    path = torch.stack(out).view(len(t), *a.shape).to(a.dtype)
    path[0], path[-1] = a, b  # exact ends: the seeds' own latents
    return path


def path_through(points, steps: int, spherical: bool):
    """(1 + (len(points) - 1) * (steps - 1), ...) points: ``steps`` per segment, ends shared."""
    import torch

    t = torch.linspace(0, 1, steps)
    step = slerp if spherical else lerp
    parts = [step(points[i], points[i + 1], t)[(1 if i else 0) :] for i in range(len(points) - 1)]
    return torch.cat(parts)


def seed_latents(gan, seeds: list[int]):
    """(len(seeds), latent_dim): each seed's latent as ``gan.sample(1, seed=s)`` draws it."""
    import torch

    from gankit.latent import sample_latent

    m = gan.meta["model"]
    return torch.cat(
        [sample_latent(1, m["latent_dim"], m["prior"], torch.Generator().manual_seed(s)) for s in seeds]
    )


def interpolation(gan, seeds: list[int], steps: int, spherical: bool = False, label: int | None = None):
    """(rows, columns, C, H, W) images in the generator's range: a row per label (one for an
    unconditional model), ``steps`` columns per pair of consecutive seeds."""
    import torch

    k = gan.num_classes
    if label is not None and not k:
        raise GankitError("this model is not conditional, so it takes no label", "drop --label")
    if label is not None and not 0 <= label < k:
        raise GankitError(f"--label {label} is not a class of this model", f"use 0..{k - 1}")
    rows = [label] if label is not None else (list(range(k)) if k else [None])
    g, device = gan.generator, gan.device
    z = seed_latents(gan, seeds).to(device)
    by_w = hasattr(g, "mapping") and hasattr(g, "synthesis")  # a mapping network: paths in w
    out = []
    with torch.no_grad():
        for row in rows:
            y = torch.full((len(seeds),), row, dtype=torch.int64, device=device) if row is not None else None
            if by_w:
                x = g.synthesis(path_through(g.mapping(z, y), steps, spherical))
            else:
                path = path_through(z, steps, spherical)
                ys = y[:1].expand(len(path)) if y is not None else None
                x = g(path, ys)
            out.append(x.float().cpu())
    return torch.stack(out)


def write(images, out: Path) -> None:
    """A PNG strip (rows x columns) or a GIF with one frame per column, from (R, N, C, H, W) in [-1, 1]."""
    import io

    import numpy as np
    from PIL import Image

    from gankit import durable
    from gankit.visual import image_grid, save_png

    rows, cols = images.shape[:2]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".png":
        save_png(image_grid(images.flatten(0, 1), nrow=cols), out)
        return
    scale = max(1, GIF_SIDE // images.shape[-1])
    frames = []
    for c in range(cols):
        frame = image_grid(images[:, c], nrow=1).repeat(scale, 0).repeat(scale, 1)
        frames.append(Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else np.ascontiguousarray(frame)))
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=120, loop=0)
    durable.write_bytes(out, buffer.getvalue(), sync=False)


def load_generator(run: Path, device: str):
    """The run's generator, or a one-line error naming the command for what it holds instead."""
    from gankit.pretrained import GAN, find_model_dir, read_config, task_of

    meta = read_config(find_model_dir(run))
    if task_of(meta) == "translate":
        from gankit.translation.cli import TASK_COMMAND

        command = TASK_COMMAND.get(meta.get("translation", {}).get("task"), "translate")
        raise GankitError(
            f"{run} holds a translator: it has no latents to interpolate", f"use `gankit {command}`"
        )
    if task_of(meta) == "synthesize":
        raise GankitError(f"{run} holds a table synthesizer", "use `gankit tabular sample`")
    gan = GAN.from_pretrained(run, device=device)
    if gan.meta["kind"] != "images":
        raise GankitError(f"{run} makes {gan.meta['kind']}, not images", "use `gankit sample` to draw them")
    return gan


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GankitError(f"--seeds '{text}' is not a list of integers", "e.g. --seeds 0,1,2") from None
    if len(seeds) < 2:
        raise GankitError(f"--seeds '{text}' names one seed: a path needs two ends", "e.g. --seeds 0,1")
    return seeds


def interpolate(
    run: Path = typer.Argument(..., help="Run directory or model directory of a trained generator."),
    out: Path = typer.Option(..., "--out", help="A .png strip (row per label) or an animated .gif."),
    steps: int = typer.Option(8, "--steps", help="Images per pair of consecutive seeds, ends included."),
    seeds: str = typer.Option(
        "0,1", "--seeds", help="Seeds whose latents the path goes through, e.g. 0,1,2."
    ),
    spherical: bool = typer.Option(False, "--slerp", help="Spherical interpolation (default: linear)."),
    label: int | None = typer.Option(
        None, "--label", help="Conditional models: this class only (default: all)."
    ),
    device: str = typer.Option("cpu", "--device"),
) -> None:
    """Images between the latents of seeds (in w for generators with a mapping network)."""
    if out.suffix.lower() not in SUFFIXES:
        raise GankitError(f"can't write '{out.suffix or out.name}'", "use --out with .png or .gif")
    if steps < 2:
        raise GankitError(f"--steps {steps} leaves no path", "use --steps 2 or more (the ends count)")
    seed_list = parse_seeds(seeds)
    gan = load_generator(run, device)
    images = interpolation(gan, seed_list, steps, spherical, label)
    write(images, out)
    typer.echo(f"wrote {images.shape[0]} x {images.shape[1]} images to {out}")


def register(app: typer.Typer) -> None:
    app.command()(interpolate)
