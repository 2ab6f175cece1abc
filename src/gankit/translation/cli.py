"""`gankit translate | colorize | inpaint | upscale`: a trained translator on a user's image files.

Each output goes to ``--out`` under its input's name as PNG (inpaint: the one file named). Inputs
may be files or folders, of any size: the translator tiles large images.
"""

from __future__ import annotations

from pathlib import Path

import typer

from gankit.errors import GankitError

TASK_COMMAND = {"colorize": "colorize", "inpaint": "inpaint", "sr": "upscale"}  # others: translate


def _load(run: Path, device: str, wanted: tuple[str, ...], command: str, direction: str = "AtoB"):
    from gankit.pretrained import find_model_dir, read_config, task_of
    from gankit.translation.translator import Translator

    meta = read_config(find_model_dir(run))
    if task_of(meta) != "translate":
        use = "gankit tabular sample" if task_of(meta) == "synthesize" else "gankit sample"
        raise GankitError(f"{run} holds a model that does not translate images", f"use `{use}`")
    if direction == "BtoA" and not meta.get("directions"):
        raise GankitError(f"{run} translates one way only (AtoB)",
                          "drop --direction, or train the other way: --set data.direction=BtoA")  # fmt: skip
    translator = Translator.from_pretrained(run, device, direction)
    if translator.task not in wanted:
        raise GankitError(
            f"{run} was trained to {translator.task}, not for `gankit {command}`",
            f"use `gankit {TASK_COMMAND.get(translator.task, 'translate')}`",
        )
    return translator


def _outputs(inputs: list[Path], out: Path) -> list[tuple[Path, Path]]:
    from gankit.translation.imagefile import list_images

    files = list_images(inputs)
    targets = [out / f"{f.stem}.png" for f in files]
    seen: dict[Path, Path] = {}
    for f, t in zip(files, targets, strict=True):
        if t in seen:
            raise GankitError(
                f"{seen[t]} and {f} would both be written to {t}", "pass inputs with distinct names"
            )
        seen[t] = f
    if out.exists() and not out.is_dir():
        raise GankitError(f"--out {out} is a file", "pass a directory for the outputs")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GankitError(f"can't create {out}: {e.strerror}", "choose a writable output directory") from None
    return list(zip(files, targets, strict=True))


def _run_all(translator, inputs: list[Path], out: Path, tile: int | None) -> None:
    from gankit.translation.imagefile import read_image, write_png

    pairs = _outputs(inputs, out)
    for source, target in pairs:
        x = read_image(source, translator.image_channels)
        write_png(translator.translate(x, tile=tile), target)
    typer.echo(f"wrote {len(pairs)} image{'s' * (len(pairs) != 1)} to {out}")


_RUN = typer.Argument(..., help="Run directory or model directory of a trained translator.")
_INPUTS = typer.Argument(..., help="Image files or folders of images.")
_OUT = typer.Option(..., "--out", help="Output directory (each output under its input's name, .png).")
_TILE = typer.Option(None, "--tile", help="Tile side in input pixels (default: what fits ~1 GiB).")
_DEVICE = typer.Option("cpu", "--device")


def translate(
    run: Path = _RUN, inputs: list[Path] = _INPUTS, out: Path = _OUT,
    direction: str = typer.Option("AtoB", "--direction", help="AtoB or BtoA (models trained both ways)."),
    tile: int | None = _TILE, device: str = _DEVICE,
) -> None:  # fmt: skip
    """Translate images with a trained pix2pix-style model (input -> output)."""
    if direction not in ("AtoB", "BtoA"):
        raise GankitError(f"--direction {direction!r}", "use --direction AtoB or BtoA")
    translator = _load(run, device, ("pairs", "colorize", "sr", "unpaired"), "translate", direction)
    _check_tile(tile)
    _run_all(translator, inputs, out, tile)


def _one_task_command(task: str, command: str, doc: str):
    def run_command(
        run: Path = _RUN, inputs: list[Path] = _INPUTS, out: Path = _OUT, tile: int | None = _TILE,
        device: str = _DEVICE,
    ) -> None:  # fmt: skip
        _check_tile(tile)
        _run_all(_load(run, device, (task,), command), inputs, out, tile)

    run_command.__name__, run_command.__doc__ = command, doc
    return run_command


colorize = _one_task_command(
    "colorize",
    "colorize",
    "Colourise greyscale (or colour) images: their lightness is kept, colours predicted.",
)
upscale = _one_task_command(
    "sr", "upscale", "Enlarge images with a trained super-resolution model (x2/x4/x8)."
)


def inpaint(
    run: Path = _RUN,
    image: Path = typer.Argument(..., help="The image with missing pixels."),
    mask: Path = typer.Option(
        ..., "--mask", help="PNG of the image's size, non-zero where pixels are missing."
    ),
    out: Path = typer.Option(..., "--out", help="Output file (.png)."),
    tile: int | None = _TILE,
    device: str = _DEVICE,
) -> None:
    """Fill the masked pixels of an image; the pixels outside the mask are returned unchanged."""
    from gankit.translation.imagefile import read_image, write_png

    _check_tile(tile)
    if out.suffix.lower() != ".png":
        raise GankitError(f"--out {out} is not a .png file", "name the output FILE.png")
    translator = _load(run, device, ("inpaint",), "inpaint")
    x = read_image(image, translator.image_channels)
    m = read_image(mask, 1)
    if m.shape[-2:] != x.shape[-2:]:
        raise GankitError(
            f"the mask is {m.shape[-1]}x{m.shape[-2]}, the image {x.shape[-1]}x{x.shape[-2]}",
            "make the mask the same size as the image",
        )
    missing = (m > -1).float()  # read_image maps 0 to -1: any non-zero pixel is missing
    if not out.parent.is_dir():
        raise GankitError(f"no directory {out.parent}", "create it, or write the output elsewhere")
    write_png(translator.translate(x, missing, tile=tile), out)
    typer.echo(f"wrote {out} ({int(missing.sum())} pixels filled)")


def _check_tile(tile: int | None) -> None:
    if tile is not None and tile < 8:
        raise GankitError(f"--tile {tile} is too small", "use --tile 64 or more, or leave it out")


def next_step(run_dir: Path, meta: dict) -> str:
    task = meta["translation"]["task"]
    if task == "inpaint":
        return f"gankit inpaint {run_dir} IMAGE.png --mask MASK.png --out filled.png"
    command = TASK_COMMAND.get(task, "translate")
    return f"gankit {command} {run_dir} IMAGES... --out DIR ; gankit evaluate {run_dir}"


def register(app: typer.Typer) -> None:
    for command in (translate, colorize, inpaint, upscale):
        app.command()(command)
