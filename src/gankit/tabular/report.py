"""``evaluate``: quality + ML efficacy + privacy in one dict, written as JSON and a self-contained page."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from gankit.report import STYLE
from gankit.tabular.privacy import privacy_report
from gankit.tabular.quality import ml_efficacy, quality_report, sdv_metadata, split


def evaluate(
    real,
    synthetic,
    target: str | None = None,
    holdout=None,
    discrete_columns: list[str] | None = None,
    metadata: dict | None = None,
    seed: int = 0,
) -> dict:
    """Score ``synthetic`` against ``real``: ``{"quality", "ml_efficacy", "privacy"}``.

    ``holdout`` = real rows the synthesizer never saw: the test set for ML efficacy and the baseline
    and non-members for privacy. Without it ML efficacy tests on 30% of ``real`` (rows the synthesizer
    may have seen, which flatters it) and privacy reports the synthetic side only.
    """
    md = sdv_metadata(real, discrete_columns, metadata)
    result = {
        "rows": {"real": len(real), "synthetic": len(synthetic)},
        "quality": quality_report(real, synthetic, md),
    }
    if target is not None:
        if holdout is not None:
            result["ml_efficacy"] = ml_efficacy(real, synthetic, holdout, target, md, seed)
        else:
            train, test = split(real, 0.3, seed)
            result["ml_efficacy"] = ml_efficacy(train, synthetic, test, target, md, seed)
            result["ml_efficacy"]["note"] = (
                "test rows come from the real table; pass a hold-out for a clean test"
            )
    result["privacy"] = privacy_report(real, synthetic, md, holdout, seed)
    result["metadata"] = md
    return result


def summary(result: dict) -> str:
    """A few plain lines for the terminal."""
    q = result["quality"]
    lines = [
        f"quality (sdmetrics): {q['score']:.3f}  column shapes {q['column_shapes']:.3f}, "
        f"column pair trends {q['column_pair_trends']:.3f}"
    ]
    if "ml_efficacy" in result:
        m = result["ml_efficacy"]
        lines.append(
            f"ML efficacy ({m['metric']} on '{m['target']}'): synthetic {m['synthetic']:.3f} vs real "
            f"{m['real']:.3f} (ratio {m['ratio']:.2f})"
        )
    p = result["privacy"]
    s = p["synthetic"]
    line = (
        f"privacy: DCR median {s['dcr_median']:.3f}, NNDR {s['nndr_median']:.2f}, "
        f"exact copies {s['exact_copy_rate']:.1%}"
    )
    if "holdout" in p:
        h = p["holdout"]
        line += f" (hold-out: {h['dcr_median']:.3f}, {h['nndr_median']:.2f}, {h['exact_copy_rate']:.1%})"
        line += f"; membership-inference AUC {p['mia_auc']:.3f}"
    lines.append(line)
    return "\n".join(lines)


def write_report(result: dict, real, synthetic, out_dir: str | Path) -> tuple[Path, Path]:
    """``report.json`` and ``report.html`` (headline numbers, per-column real vs synthetic plots)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(result, indent=2, default=float))
    kinds = {c: m["sdtype"] for c, m in result["metadata"]["columns"].items()}
    scores = result["quality"]["columns"]
    figures = "".join(
        f"<figure>{_column_svg(real[c], synthetic[c], kinds[c])}"
        f"<figcaption>{html.escape(str(c))} — shape score {scores.get(str(c), float('nan')):.3f}"
        "</figcaption></figure>"
        for c in real.columns
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>gankit tabular report</title>
<style>{STYLE} figure{{width:440px}}</style></head><body><h1>Synthetic table report</h1>
<pre>{html.escape(summary(result))}</pre>
<h2>Columns: real (blue) vs synthetic (red)</h2>{figures}
<h2>All figures</h2><pre>{html.escape(json.dumps(result, indent=2, default=float))}</pre></body></html>"""
    (out / "report.html").write_text(page)
    return out / "report.json", out / "report.html"


def _column_svg(real, synth, sdtype: str, width: int = 420, height: int = 160) -> str:
    """Real vs synthetic as overlaid histograms (numbers) or side-by-side bars (categories)."""
    import pandas as pd

    if sdtype in ("numerical", "datetime"):
        conv = (
            (lambda s: pd.to_datetime(s, errors="coerce").astype("int64")) if sdtype == "datetime" else None
        )
        r = (conv(real) if conv else pd.to_numeric(real, errors="coerce")).dropna().to_numpy(float)
        s = (conv(synth) if conv else pd.to_numeric(synth, errors="coerce")).dropna().to_numpy(float)
        if len(r) == 0:
            return ""
        both = np.r_[r, s]
        lo, hi = both.min(), both.max()
        edges = np.linspace(lo, hi if hi > lo else lo + 1, 31)  # also for a constant column
        labels = [f"{edges[0]:.4g}", f"{edges[-1]:.4g}"]
        hr = np.histogram(r, edges)[0] / max(len(r), 1)
        hs = np.histogram(s, edges)[0] / max(len(s), 1)
    else:
        keys = pd.concat([real.astype(str), synth.astype(str)]).value_counts().index[:30]
        hr = real.astype(str).value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
        hs = synth.astype(str).value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
        labels = [str(keys[0]), str(keys[-1])] if len(keys) else ["", ""]
    top = max(hr.max(initial=0), hs.max(initial=0)) or 1.0
    bw = (width - 20) / len(hr)
    bars = []
    for i, (a, b) in enumerate(zip(hr, hs, strict=True)):
        x = 10 + i * bw
        for v, colour, dx in ((a, "#1f77b4", 0), (b, "#d62728", bw / 2)):
            h = v / top * (height - 40)
            bars.append(
                f'<rect x="{x + dx:.1f}" y="{height - 20 - h:.1f}" width="{bw / 2:.1f}" '
                f'height="{h:.1f}" fill="{colour}"/>'
            )
    return (
        f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<rect width="{width}" height="{height}" fill="#fafafa" stroke="#ccc"/>{"".join(bars)}'
        f'<text x="10" y="{height - 5}" font-size="10">{html.escape(labels[0])}</text>'
        f'<text x="{width - 10}" y="{height - 5}" font-size="10" text-anchor="end">'
        f"{html.escape(labels[1])}</text></svg>"
    )
