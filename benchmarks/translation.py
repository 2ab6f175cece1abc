"""Image-to-image translation: each built-in task, gankit's model beside its trivial baseline.

    python benchmarks/translation.py                         # every task at its family's default budget
    python benchmarks/translation.py --minutes 3             # every task for 3 minutes
    python benchmarks/translation.py --tasks mnist-edges:pix2pix:2 --avx2
    python benchmarks/translation.py --tasks photos-sr4:srgan:6:model.pretrain=1   # SRResNet stage alone

Each case is one `gankit train --data TASK --model FAMILY --minutes M` process, then `gankit evaluate`
on the task's held-out pairs (photographs the model never saw: coffee and camera). Reported per task:
minutes trained (and the process's wall time), each metric beside its baseline (bicubic for SR,
the best of mean and diffusion fill for inpainting, the grey copy for colourisation, the identity
for CycleGAN and other pairs), and inference speed in megapixels per second on a 512x512 image,
untiled and through 128-pixel tiles.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from _report import machine, publish

TASKS = ",".join([
    "mnist-edges:pix2pix", "mnist-inpaint:pix2pix", "mnist-color:pix2pix", "mnist-thick:cyclegan",
    "photos-sr4:srgan::model.pretrain=1", "photos-sr4:srgan", "photos-inpaint:pix2pix",
    "photos-color:pix2pix",
])  # fmt: skip
IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
HEADLINE = {  # the metric each task is judged by (tasks' own evaluation reports more)
    "pairs": "psnr", "inpaint": "l1_in_mask", "colorize": "lab_error", "sr": "psnr_rgb",
    "unpaired": "target_domain",
}  # fmt: skip


def run_case(task: str, family: str, minutes: float | None, out: Path, env: dict, sets=()) -> dict:
    cmd = [sys.executable, "-m", "gankit", "train", "--data", task, "--model", family, "--out", str(out)]
    cmd += [arg for s in sets for arg in ("--set", s)]
    cmd += ["--no-progress", "--eval-every", "0"] + (["--minutes", str(minutes)] if minutes else [])
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    evaluated = subprocess.run([sys.executable, "-m", "gankit", "evaluate", str(out)], check=True, env=env,
                               capture_output=True, text=True)  # fmt: skip
    results = json.loads(evaluated.stdout)
    grids = sorted(out.glob("fakes_*.png"))  # held-out input | output | target rows: docs' before/after
    if grids:
        IMAGES.mkdir(parents=True, exist_ok=True)
        name = "-".join([task, *sets]).replace("=", "-").replace(".", "-")
        shutil.copy(grids[-1], IMAGES / f"translation-{name}.png")
    budget = json.loads((out / "budget.json").read_text()) if (out / "budget.json").exists() else {}
    return {"task": " ".join([task, *sets]), "family": family, "wall_s": wall,
            "trained_s": budget.get("trained_s"), "steps": budget.get("steps_run"), "results": results,
            "speed": inference_speed(out)}  # fmt: skip


def inference_speed(run: Path) -> dict[str, float]:
    """Megapixels (of output) per second on one 512x512 input, whole and in 128-pixel tiles."""
    import torch

    from gankit.translation.translator import Translator

    t = Translator.from_pretrained(run)
    x = torch.rand(1, t.image_channels, 512, 512) * 2 - 1
    mask = (torch.rand(1, 1, 512, 512) < 0.2).float() if t.task == "inpaint" else None
    out = {}
    for name, tile in (("untiled", 100_000), ("tiled", 128)):
        t.translate(x, mask, tile=tile)  # warm-up
        t0 = time.perf_counter()
        y = t.translate(x, mask, tile=tile)
        out[name] = y.shape[-1] * y.shape[-2] / 1e6 / (time.perf_counter() - t0)
    return out


def table(rows: list[dict]) -> str:
    lines = [
        "| task | family | minutes (wall) | steps | metric | gankit | baseline | MP/s untiled / tiled |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        task = next(iter(r["results"].values()))["provenance"]["task"]
        wall = f"({r['wall_s'] / 60:.1f})"
        trained = f"{r['trained_s'] / 60:.1f} {wall}" if r["trained_s"] else wall
        speed = f"{r['speed']['untiled']:.2f} / {r['speed']['tiled']:.2f}"
        first = [r["task"], r["family"], trained, str(r["steps"] or "")]
        for i, (name, m) in enumerate(r["results"].items()):
            shown = f"**{name}**" if name == HEADLINE.get(task) else name
            cells = first if i == 0 else ["", "", "", ""]
            cells += [
                f"{shown} ({m['better']})",
                f"{m['model']:.4g}",
                f"{m['baseline']:.4g} ({m['baseline_name']})",
            ]
            cells.append(speed if i == 0 else "")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default=TASKS, help="comma-separated task:family[:minutes[:key=value...]]")
    p.add_argument(
        "--minutes", type=float, default=None, help="budget for every task (default: the recipe's)"
    )
    p.add_argument("--avx2", action="store_true", help="cap oneDNN at AVX2 (ONEDNN_MAX_CPU_ISA=AVX2)")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    env = dict(os.environ, **({"ONEDNN_MAX_CPU_ISA": "AVX2"} if args.avx2 else {}))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.tasks.split(","):
            task, family, *rest = spec.split(":")
            minutes = float(rest[0]) if rest and rest[0] else args.minutes
            out = Path(tmp) / f"{len(rows)}-{task}"
            rows.append(run_case(task, family, minutes, out, env, sets=tuple(rest[1:])))
            print(table(rows[-1:]), flush=True)
    text = (
        f"\n## Image-to-image translation ({date.today().isoformat()})\n\n"
        f"`python benchmarks/translation.py {' '.join(sys.argv[1:])}`"
        f"{' (oneDNN capped at AVX2)' * args.avx2}\n\n"
        f"{machine()}\n\nEach model is evaluated on held-out pairs it never trained on (the photo tasks: "
        "scikit-image's coffee and camera). PSNR/SSIM by scikit-image on [0, 1]; `psnr_rgb` over RGB, "
        "`psnr_y` over luma. Published context (different data: compare the gap, not the absolute): "
        "SRGAN x4 on Set5 "
        "PSNR 29.40 vs bicubic 28.43, SRResNet 32.05 (Ledig et al. 2017). Held-out rows of input, "
        "output and target: `docs/images/translation-<task>.png`.\n\n" + table(rows) + "\n"
    )
    publish(text, write=not args.no_write)


if __name__ == "__main__":
    main()
