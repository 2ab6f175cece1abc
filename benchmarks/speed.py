"""Speed: `gankit train` against the reference training loops users copy, on the identical network and
batch, same threads, in one process run.

    python benchmarks/speed.py              # appends a section to docs/benchmarks.md
    python benchmarks/speed.py --compile    # also times `gankit train --compile`
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/speed.py   # as on an AVX2-only CPU (the ISA is named)

Cases (MNIST from gankit's bundled 5,000 digits, batch 64 unless said):
- dcgan64: the PyTorch DCGAN example (examples/dcgan/main.py) re-created here: its G and D, BCE on a
  sigmoid, Adam(2e-4, beta1 0.5), a DataLoader over a Dataset that resizes and normalises each image in
  __getitem__ (Resize, ToTensor, Normalize(0.5, 0.5)), shuffle, num_workers=2 as the example; per step
  the example's three `.item()` calls and its log line (written to /dev/null here), sample grids every
  100 iterations. gankit: `--unconditional --resolution 64 --latent-dim 100 --width 64`, EMA off (so
  both sides compute the same training step), its default logging.
- dcgan32: the same at 32x32 (the example's pattern with one block fewer: gankit's dcgan at 32).
- mlp: PyTorch-GAN's implementations/gan/gan.py loop (G step then D step, numpy latents, fresh
  target tensors per batch, BCE on a sigmoid, a log line with `.item()` per batch, no loader workers),
  on gankit's mlp network (`--model mlp --latent-dim 100`: width 512, depth 3).
- stylegan2: NVlabs' stylegan2-ada-pytorch step re-created in benchmarks/reference_stylegan2.py (its
  networks on the reference upfirdn2d / bias_act / conv2d_resample ops, fused_modconv=False as it
  trains; Gmain, Dmain, lazy Dreg phases; G_ema), sized and set from gankit's own stylegan recipe on
  MNIST at 32x32 (`--model stylegan --resolution 32`: conditional, width 8 up to 32, w 128, 2 mapping
  layers, batch 32, R1 gamma 4 every 4 steps, mixing 0.9, EMA 0.98). What differs: D's label mapping has
  0 layers (gankit's cmap) where NVlabs' default has 8; gankit's R1 reuses the D pass of its step, where
  NVlabs runs D on the reals again in a phase of its own; gankit's networks resample bilinearly (no FIR
  filter) and demodulate with s^2 @ W^2 (no per-sample weights): same weights, cheaper ops.
- biggan: BigGAN-PyTorch's blocks and train_fns step (hinge loss, one concatenated D batch, ortho reg
  added to G's gradients, EMA of G's state_dict) with torch.nn.utils.spectral_norm as StudioGAN, in
  benchmarks/reference_biggan.py, set from gankit's biggan recipe at 32x32 (width 8 with gankit's
  4w/2w/w channel plan, z 64 in 4 slices, shared embedding 32, batch 32, one D step, EMA 0.98,
  attention off).
  For these two the reference is timed bare (the step on tensors in memory: no DataLoader column), both
  sides keep their recipe's EMA, and the parameter counts are asserted within 2% of gankit's (they are
  equal, shape for shape: G 112,691 / D 56,248 and G 51,073 / D 37,593).

Rounds alternate reference and gankit (order flipped each round) so load from other processes hits
both; the table reports medians and the median of per-round ratios. Model GFLOP/s counts the
reference step's FLOPs (torch.utils.flop_counter) per image, and is compared to a 512x512 fp32 matmul
timed in the same rounds.
"""

from __future__ import annotations

import argparse
import io
import itertools
import resource
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch
from _report import machine, publish

import gankit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_biggan  # noqa: E402
import reference_stylegan2  # noqa: E402
from reference_dcgan import (  # noqa: E402
    BATCH,
    NZ,
    DCGANReference,
    MNISTWithTransforms,
    RefDiscriminator,
    RefGenerator,
    RefMLPDiscriminator,
    RefMLPGenerator,
    VanillaGANReference,
)

# --- measuring -------------------------------------------------------------------------------------
CASES = {
    "dcgan64": dict(model="dcgan", resolution=64, width=64, ref="dcgan"),
    "dcgan32": dict(model="dcgan", resolution=32, width=64, ref="dcgan"),
    "mlp": dict(model="mlp", resolution=None, width=512, ref="mlp"),
    # the recipe's sizes and batch (32) on both sides: reference_*.settings reads gankit's config
    "stylegan2": dict(model="stylegan", resolution=32, width=None, ref="stylegan2", batch=32),
    "biggan": dict(model="biggan", resolution=32, width=None, ref="biggan", batch=32),
}
RECREATED = {
    "stylegan2": (reference_stylegan2.settings, reference_stylegan2.StyleGAN2Reference),
    "biggan": (reference_biggan.settings, reference_biggan.BigGANReference),
}


def batch_of(case: str) -> int:
    return CASES[case].get("batch", BATCH)


def recreated_reference(case: str):
    """The re-created reference step of a stylegan2/biggan case, set from gankit's resolved config and
    holding gankit's own normalised images (data in memory, as the bare step)."""
    from gankit.data import load_data
    from gankit.training.setup import resolve_config

    options = gankit_options(case, 1, False)
    cfg = gankit.make_config(None, options.pop("overrides"), **options)
    data = load_data(cfg.data)
    cfg = resolve_config(cfg, data)
    settings, reference = RECREATED[case]
    return reference(settings(cfg), data.x, data.labels, data.num_classes)


def time_reference(case: str, steps: int, warmup: int, workers: int, out: Path) -> float:
    c = CASES[case]
    ref = (
        DCGANReference(c["resolution"], workers, out) if c["ref"] == "dcgan" else VanillaGANReference(0, out)
    )
    return images_per_s(ref, steps, warmup)


def images_per_s(ref, steps: int, warmup: int, batch: int = BATCH) -> float:
    for _ in range(warmup):
        ref.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        ref.step()
    return steps * batch / (time.perf_counter() - t0)


def time_reference_bare(case: str, steps: int, warmup: int, out: Path) -> float:
    """The reference's own training step with the data already in memory as normalised tensors (no
    DataLoader, no per-image transforms): what the network and the step cost, loader aside."""
    c = CASES[case]
    if case in RECREATED:  # re-created references hold the data in memory already
        return images_per_s(recreated_reference(case), steps, warmup, batch_of(case))
    res = c["resolution"] or 28
    data = MNISTWithTransforms(res)
    x = torch.stack([data[i][0] for i in range(len(data))])  # normalised once, as gankit holds it
    g = torch.Generator().manual_seed(0)
    ref = DCGANReference(res, 0, out) if c["ref"] == "dcgan" else VanillaGANReference(0, out)
    ref.data = ((x[torch.randint(len(x), (BATCH,), generator=g)], None) for _ in itertools.count())
    return images_per_s(ref, steps, warmup)


def gankit_options(case: str, steps: int, compile_: bool) -> dict:
    c = CASES[case]
    options = dict(
        data="mnist",
        model=c["model"],
        batch_size=batch_of(case),
        steps=steps,
        threads=torch.get_num_threads(),
        compile=compile_,
        overrides=["train.sample_every=100", "train.checkpoint_every=100000"],
    )
    if case not in RECREATED:  # the recipe's conditioning, sizes and EMA for stylegan2 and biggan
        options.update(conditional=False, latent_dim=NZ, width=c["width"])
        options["overrides"].insert(0, "optim.ema=0")
    if c["resolution"]:
        options["overrides"].append(f"data.resolution={c['resolution']}")
    return options


def time_gankit(case: str, steps: int, warmup: int, out: Path, compile_: bool = False) -> tuple[float, float]:
    """img/s over steps warmup+1 .. warmup+steps (the last step's grid/checkpoint/report excluded),
    and the seconds the warm-up took (compilation, with --compile)."""
    marks: dict[int, float] = {}
    t_start = time.perf_counter()

    def clock(step: int, _last) -> None:
        if step in (warmup, warmup + steps):
            marks[step] = time.perf_counter()

    gankit.train(out=out, callbacks=[clock], **gankit_options(case, warmup + steps + 1, compile_))
    return steps * batch_of(case) / (marks[warmup + steps] - marks[warmup]), marks[warmup] - t_start


def matmul_gflops(n: int = 512, seconds: float = 0.5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = 0.0
    for _ in range(3):
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            torch.mm(a, b)
            reps += 1
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9)
    return best


def step_flops(case: str, out: Path) -> tuple[float, float]:
    """FLOPs per training image: the reference step as the example runs it, and gankit's step."""
    from torch.utils.flop_counter import FlopCounterMode

    c = CASES[case]
    if case in RECREATED:  # a step without R1 (gankit's counted step, below, is step 1: none either)
        ref = recreated_reference(case)
        ref.batch_idx = 1
        with FlopCounterMode(display=False) as fc:
            ref.step()
    elif c["ref"] == "dcgan":
        ref = DCGANReference(c["resolution"], 0, out)
        ref.i = 1  # no sample grid inside the counted step
        x = torch.randn(BATCH, 1, c["resolution"], c["resolution"])
        with FlopCounterMode(display=False) as fc:
            ref.step(x)
    else:
        ref = VanillaGANReference(0, out)
        ref.i = 1
        with FlopCounterMode(display=False) as fc:
            ref.step()
    ref_flops = fc.get_total_flops() / batch_of(case)

    from gankit.data import load_data
    from gankit.training.setup import resolve_config

    counted: dict[str, float] = {}
    options = gankit_options(case, 3, False)
    cfg = gankit.make_config(None, options.pop("overrides"), **options)
    cfg = resolve_config(cfg, load_data(cfg.data))

    def counter(step, _last):
        if step == 1:
            counted["mode"] = FlopCounterMode(display=False)
            counted["mode"].__enter__()
        elif step == 2:
            counted["mode"].__exit__(None, None, None)
            counted["flops"] = counted["mode"].get_total_flops() / batch_of(case)

    gankit.train(cfg, out=out / "flops", callbacks=[counter])
    return ref_flops, counted["flops"]


def bookkeeping_share(out: Path, steps: int = 7000, scale: int = 35) -> dict:
    """Share of the default job's wall time spent on ticks, sample grids, checkpoints and the report.

    Runs the default job for steps/scale steps with its events compressed by the same factor (70 log
    ticks, 10 grids, 4 checkpoints), times every step; the excess of each step over the median step is
    bookkeeping (or noise from other processes, so this over-estimates), and the default job's wall
    time is estimated as `steps` median steps plus that excess."""
    n = steps // scale
    times: list[float] = []
    gankit.train(
        out=out,
        steps=n,
        callbacks=[lambda step, _last: times.append(time.perf_counter())],
        overrides=[
            f"train.log_every={100 // scale or 1}",
            f"train.sample_every={n // 10}",
            f"train.checkpoint_every={n // 4}",
        ],
    )
    end = time.perf_counter()
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    median = statistics.median(gaps)
    excess = sum(g - median for g in gaps) + (end - times[-1])  # + final checkpoint and report
    total = steps * median + excess
    return {"share": excess / total, "excess_s": excess, "job_min": total / 60}


def check_identical_networks(case: str) -> dict | None:
    from gankit.data import load_data
    from gankit.training.setup import build_networks, resolve_config

    c = CASES[case]
    options = gankit_options(case, 1, False)
    cfg = gankit.make_config(None, options.pop("overrides"), **options)
    cfg = resolve_config(cfg, load_data(cfg.data))
    nets = build_networks(cfg, load_data(cfg.data))
    g, d = nets["G"].module, nets["D"].module
    if case in RECREATED:  # parameter counts within 2%, and say whether every shape matches
        ref = recreated_reference(case)
        sizes = {}
        for name, mine, theirs in (("G", g, ref.G), ("D", d, ref.D)):
            a, b = sum(p.numel() for p in mine.parameters()), sum(p.numel() for p in theirs.parameters())
            same = sorted(p.shape for p in mine.parameters()) == sorted(p.shape for p in theirs.parameters())
            print(f"{case} {name}: gankit {a} parameters, reference {b}; same shapes: {same}", flush=True)
            assert abs(a - b) <= 0.02 * b, f"{case}: gankit's {name} differs in size from the reference's"
            sizes[name] = (a, b, same)
        return sizes
    if c["ref"] == "dcgan":
        rg, rd = RefGenerator(c["resolution"]), RefDiscriminator(c["resolution"])
    else:
        rg, rd = RefMLPGenerator(), RefMLPDiscriminator()
    for mine, theirs in ((g, rg), (d, rd)):
        a = [tuple(p.shape) for p in mine.parameters()]
        b = [tuple(p.shape) for p in theirs.parameters()]
        assert a == b, f"{case}: gankit's network differs from the reference's: {a} vs {b}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--workers", type=int, default=2, help="reference DataLoader workers (example: 2)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time gankit train --compile")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--no-bookkeeping", action="store_true", help="skip the default job's bookkeeping")
    args = parser.parse_args()
    unknown = set(args.cases.split(",")) - set(CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}: choose from {', '.join(CASES)}")
    torch.set_num_threads(args.threads)
    # measured steps, warm-up steps (stylegan2: multiples of its R1 interval, 4, so both sides regularise
    # on the same number of the measured steps)
    budget = {
        "dcgan64": (10, 2),
        "dcgan32": (40, 4),
        "mlp": (400, 20),
        "stylegan2": (32, 4),
        "biggan": (32, 4),
    }
    rows, matmuls = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for case in args.cases.split(","):
            sizes = check_identical_networks(case)
            steps, warmup = budget[case]
            rates: dict[str, list[float]] = {"ref": [], "bare": [], "gankit": []}
            ratios, bare_ratios = [], []
            sides = ["bare", "gankit"] if case in RECREATED else ["ref", "bare", "gankit"]
            for r in range(args.rounds):
                matmuls.append(matmul_gflops())
                order = sides if r % 2 == 0 else sides[::-1]
                got = {}
                for side in order:
                    out = tmp / f"{case}-{side}-{r}"
                    out.mkdir()
                    if side == "ref":
                        got[side] = time_reference(case, steps, warmup, args.workers, out)
                    elif side == "bare":
                        got[side] = time_reference_bare(case, steps, warmup, out)
                    else:
                        got[side] = time_gankit(case, steps, warmup, out)[0]
                    rates[side].append(got[side])
                if "ref" in got:
                    ratios.append(got["gankit"] / got["ref"])
                bare_ratios.append(got["gankit"] / got["bare"])
                print(case, r, {k: round(v, 1) for k, v in got.items()}, flush=True)
            ref_flops, gk_flops = step_flops(case, tmp / f"{case}-flops")
            row = dict(
                ref=statistics.median(rates["ref"]) if ratios else None,
                bare=statistics.median(rates["bare"]),
                gankit=statistics.median(rates["gankit"]),
                ratio=statistics.median(ratios) if ratios else None,
                bare_ratio=statistics.median(bare_ratios),
                ref_flops=ref_flops,
                gk_flops=gk_flops,
                sizes=sizes,
            )
            if args.compile and case.startswith("dcgan"):
                out = tmp / f"{case}-compile"
                out.mkdir()
                row["compiled"], row["compile_s"] = time_gankit(case, steps, warmup + 3, out, compile_=True)
                row["compiled_ratio"] = row["compiled"] / row["ref"]
            rows[case] = row
            print(case, row, flush=True)
        book = None if args.no_bookkeeping else bookkeeping_share(tmp / "bookkeeping")
        print("bookkeeping", book, flush=True)
    matmul = statistics.median(matmuls)
    big = matmul_gflops(2048, 1.0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    publish(report(rows, matmul, big, rss, book, args), write=not args.no_write)


def report(rows: dict, matmul: float, big: float, rss: float, book: dict, args) -> str:
    buf = io.StringIO()
    w = buf.write
    w(f"\n## Speed: `gankit train` vs the reference loops ({date.today()})\n\n")
    flags = "".join(f" {a}" for a in sys.argv[1:] if a != "--no-write")
    w(f"{machine()}. Command: `python benchmarks/speed.py{flags}` ")
    w(f"({args.rounds} alternating rounds, medians; reference DataLoader workers: {args.workers}; the bare ")
    w("reference step is the same step on normalised tensors already in memory).\n")
    w(f"512x512 fp32 matmul in the same rounds: {matmul:.0f} GFLOP/s (2048x2048: {big:.0f}).\n\n")
    w("| case | reference img/s (DataLoader) | bare reference step img/s | gankit img/s ")
    w("| ratio vs reference | ratio vs bare step | model GFLOP/s (ref / gankit) | of matmul |\n")
    w("|---|---|---|---|---|---|---|---|\n")
    names = {
        "dcgan64": "DCGAN 64x64 (example)",
        "dcgan32": "DCGAN 32x32",
        "mlp": "mlp 28x28 (PyTorch-GAN gan.py)",
        "stylegan2": "StyleGAN2 32x32 (NVlabs' step, re-created)",
        "biggan": "BigGAN 32x32 (BigGAN-PyTorch's step, re-created)",
    }
    for case, r in rows.items():
        base = r["ref"] or r["bare"]  # the re-created references: the bare step is the reference
        ref_g, gk_g = base * r["ref_flops"] / 1e9, r["gankit"] * r["ref_flops"] / 1e9
        ref, ratio = (f"{r['ref']:.1f}", f"**{r['ratio']:.2f}x**") if r["ref"] else ("-", "-")
        w(f"| {names[case]} | {ref} | {r['bare']:.1f} | {r['gankit']:.1f} | ")
        w(f"{ratio} | **{r['bare_ratio']:.2f}x** | ")
        w(f"{ref_g:.0f} / {gk_g:.0f} | {ref_g / matmul:.0%} / {gk_g / matmul:.0%} |\n")
    w("\nModel GFLOP/s = the reference step's FLOPs per image (torch.utils.flop_counter) x img/s, for both ")
    w("sides. FLOPs per image, reference / gankit's own step: ")
    w(", ".join(f"{c} {r['ref_flops'] / 1e9:.3f} / {r['gk_flops'] / 1e9:.3f} G" for c, r in rows.items()))
    w(" (gankit skips D's weight gradients in G's phase; it computes the same updates).\n")
    sized = {c: r["sizes"] for c, r in rows.items() if r.get("sizes")}
    if sized:
        w("\nstylegan2, biggan: the steps re-created in benchmarks/reference_stylegan2.py and ")
        w("reference_biggan.py, set from gankit's recipe (MNIST 32x32, batch 32, EMA on both sides); ")
        w("parameters, gankit / reference: ")
        for c, nets in sized.items():
            parts = [
                f"{n} {a:,} / {b:,}" + ("" if same else " (shapes differ)")
                for n, (a, b, same) in nets.items()
            ]
            w(f"{c} {', '.join(parts)}; ")
        w("the bare step is their reference (no DataLoader column). gankit's StyleGAN2 counts more FLOPs: ")
        w("its up- and down-sampling convs run at the higher resolution (bilinear then conv, conv then ")
        w("average pooling) where NVlabs' run strided at the lower one, with FIR filtering around them.\n")
    compiled = {c: r for c, r in rows.items() if "compiled" in r}
    if compiled:
        w("\n`--compile` (torch.compile, after warm-up): ")
        w(
            ", ".join(
                f"{c} {r['compiled']:.1f} img/s = {r['compiled_ratio']:.2f}x the reference "
                f"(warm-up incl. compilation {r['compile_s']:.0f} s)"
                for c, r in compiled.items()
            )
        )
        w(".\n")
    if book:
        w(
            f"\nBookkeeping of the default job (`gankit train`: 70 log ticks, 10 sample grids with standing "
            f"statistics, 4 checkpoints + exports, the report): {book['share']:.1%} of its wall time "
            f"({book['excess_s']:.1f} s of an estimated {book['job_min']:.1f} min; measured on a compressed "
            "run, noise counted as overhead).\n"
        )
    w(f"\nPeak RSS of the benchmark process: {rss:.0f} MB.\n")
    return buf.getvalue()


if __name__ == "__main__":
    sys.exit(main())
