"""A self-contained ``report.html`` for a run: config, curves, sample grids (no network needed to view)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

CURVES = [("loss/D", "loss/G"), ("D(x)", "D(G(z))"), ("img_per_s",)]
COLOURS = ["#1f77b4", "#d62728", "#2ca02c"]
STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px} figure{display:inline-block;margin:4px} "
    "img{image-rendering:pixelated;width:240px} td{padding:1px 8px} pre{background:#f4f4f4;padding:8px}"
)


def _svg_chart(records: list[dict], keys: tuple[str, ...], width: int = 420, height: int = 180) -> str:
    series = [[(r["step"], r[k]) for r in records if isinstance(r.get(k), (int, float))] for k in keys]
    points = [p for s in series for p in s]
    if not points:
        return ""
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    pad = 30

    def xy(p):
        return (
            pad + (p[0] - x0) / (x1 - x0) * (width - 2 * pad),
            height - pad - (p[1] - y0) / (y1 - y0) * (height - 2 * pad),
        )

    lines = []
    for s, colour in zip(series, COLOURS, strict=False):
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, s))
        lines.append(
            f'<polyline class="curve" fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>'
        )
    legend = " ".join(
        f'<tspan fill="{c}">{html.escape(k)}</tspan>' for k, c in zip(keys, COLOURS, strict=False)
    )
    return (
        f'<svg class="chart" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<rect width="{width}" height="{height}" fill="#fafafa" stroke="#ccc"/>{"".join(lines)}'
        f'<text x="{pad}" y="16" font-size="12">{legend}</text>'
        f'<text x="2" y="{pad}" font-size="10">{y1:.3g}</text>'
        f'<text x="2" y="{height - pad}" font-size="10">{y0:.3g}</text>'
        f'<text x="{width - pad - 40}" y="{height - 8}" font-size="10">step {x1:g}</text></svg>'
    )


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    img = f'<img src="data:image/png;base64,{data}" alt="{path.name}">'
    return f"<figure>{img}<figcaption>{path.name}</figcaption></figure>"


def write_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` from the run's files and return its path."""
    run_dir = Path(run_dir)
    stats_path = run_dir / "stats.jsonl"
    records = (
        [json.loads(line) for line in stats_path.read_text().splitlines()] if stats_path.exists() else []
    )
    grids = sorted(run_dir.glob("fakes_*.png"))
    shown = grids if len(grids) <= 6 else [grids[i * (len(grids) - 1) // 5] for i in range(6)]
    metrics = (
        (run_dir / "metrics.jsonl").read_text().splitlines() if (run_dir / "metrics.jsonl").exists() else []
    )
    config = (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").exists() else ""
    last = records[-1] if records else {}
    summary = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td></tr>"
        if isinstance(v, float)
        else f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in last.items()
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>gankit run {html.escape(run_dir.name)}</title><style>{STYLE}</style>
</head><body><h1>{html.escape(run_dir.name)}</h1>
<h2>Final samples</h2>{_img(grids[-1]) if grids else "<p>none yet</p>"}
{_img(run_dir / "reals.png") if (run_dir / "reals.png").exists() else ""}
<h2>Curves</h2>{"".join(_svg_chart(records, keys) for keys in CURVES)}
<h2>Progress</h2>{"".join(_img(g) for g in shown)}
<h2>Last tick</h2><table>{summary}</table>
<h2>Metrics</h2><pre>{html.escape(chr(10).join(metrics)) or "run `gankit evaluate` to add metrics"}</pre>
<h2>Config</h2><pre>{html.escape(config)}</pre></body></html>"""
    out = run_dir / "report.html"
    out.write_text(page)
    return out
