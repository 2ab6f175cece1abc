"""A self-contained ``report.html`` for a run (no network needed to view it).

Config, loss and D(x)/D(G(z)) curves, gradient norms, metric curves from the in-training evaluation,
the sample-grid progression, final samples, monitor warnings and rollbacks, timing, and every
recorded metric with its provenance. Charts are inline SVG and images are base64 data, so the file
can be mailed or archived on its own.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

from gankit import durable

TRAINING_CURVES = [
    ("losses", ("loss/D", "loss/G")),
    ("discriminator outputs", ("D(x)", "D(G(z))")),
    ("gradient norms", ("grad_norm/D", "grad_norm/G")),
    ("adaptive augmentation: p and r_t (ADA)", ("ada/p", "ada/rt")),
    ("sample diversity (1 = real data's)", ("diversity",)),
    ("speed (img/s)", ("img_per_s",)),
]
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222} figure{display:inline-block;"
    "margin:4px;vertical-align:top} img{image-rendering:pixelated;width:240px} td,th{padding:2px 8px;"
    "text-align:left;vertical-align:top} pre{background:#f4f4f4;padding:8px;overflow-x:auto} "
    ".chart{margin:4px} .warn{color:#a15c00} .rollback{color:#b00020} table{border-collapse:collapse} "
    "tr:nth-child(even){background:#f7f7f7} .prov{font-size:85%;color:#555}"
)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a crash must not hide the rest
            continue
    return out


def _svg_chart(
    records: list[dict], keys: tuple[str, ...], title: str, width: int = 420, height: int = 190
) -> str:
    series = [
        [(r["step"], r[k]) for r in records if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])]
        for k in keys
    ]
    points = [p for s in series for p in s]
    if not points:
        return ""
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    pad = 32

    def xy(p):
        return (
            pad + (p[0] - x0) / (x1 - x0) * (width - 2 * pad),
            height - pad - (p[1] - y0) / (y1 - y0) * (height - 2 * pad),
        )

    lines = []
    for s, colour in zip(series, COLOURS, strict=False):
        if len(s) == 1:
            x, y = xy(s[0])
            lines.append(f'<circle class="curve" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
        elif s:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, s))
            lines.append(
                f'<polyline class="curve" fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>'
            )
    legend = " ".join(
        f'<tspan fill="{c}">{html.escape(k)}</tspan>' for k, c in zip(keys, COLOURS, strict=False)
    )
    return (
        f'<svg class="chart" data-title="{html.escape(title)}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{html.escape(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="#fafafa" stroke="#ccc"/>{"".join(lines)}'
        f'<text x="{pad}" y="16" font-size="12">{legend}</text>'
        f'<text x="2" y="{pad}" font-size="10">{y1:.3g}</text>'
        f'<text x="2" y="{height - pad}" font-size="10">{y0:.3g}</text>'
        f'<text x="{pad}" y="{height - 8}" font-size="10">step {x0:g}</text>'
        f'<text x="{width - pad - 50}" y="{height - 8}" font-size="10">step {x1:g}</text></svg>'
    )


def _img(path: Path, caption: str | None = None) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    img = f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.name)}">'
    return f"<figure>{img}<figcaption>{html.escape(caption or path.name)}</figcaption></figure>"


def _metric_curves(records: list[dict]) -> str:
    keys = sorted({k for r in records for k in r if k.startswith("eval/") and not k.endswith("num_modes")})
    return "".join(_svg_chart(records, (k,), k) for k in keys)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v[:12]) + (", …" if len(v) > 12 else "") + "]"
    return html.escape(str(v))


def _metrics_table(entries: list[dict]) -> str:
    """The latest result of each metric, its values and its provenance."""
    latest: dict[str, tuple[str, dict]] = {}
    for entry in entries:
        for name, result in entry.get("results", {}).items():
            latest[name] = (entry.get("time", ""), result)
    if not latest:
        return "<p>No recorded metrics: run <code>gankit evaluate RUN</code> to add them.</p>"
    rows = []
    for name, (when, result) in latest.items():
        values = ", ".join(f"{k}={_fmt(v)}" for k, v in result.items() if k != "provenance")
        prov = ", ".join(f"{k}={_fmt(v)}" for k, v in result.get("provenance", {}).items())
        rows.append(
            f'<tr class="metric"><td><b>{html.escape(name)}</b><br><span class="prov">{html.escape(when)}'
            f'</span></td><td>{values}<br><span class="prov">{prov}</span></td></tr>'
        )
    return f"<table>{''.join(rows)}</table>"


def _events_table(events: list[dict]) -> str:
    shown = [e for e in events if e.get("event") in ("warning", "rollback")]
    if not shown:
        return "<p>No warnings and no rollbacks.</p>"
    rows = "".join(
        f'<tr class="{html.escape(e["event"])}"><td>{e.get("step")}</td><td>{html.escape(e["event"])}</td>'
        f"<td>{html.escape(str(e.get('message', '')))}</td></tr>"
        for e in shown
    )
    return f"<table><tr><th>step</th><th>event</th><th>what</th></tr>{rows}</table>"


def _summary(run_dir: Path, records: list[dict], events: list[dict]) -> str:
    last = records[-1] if records else {}
    speeds = [r["img_per_s"] for r in records if isinstance(r.get("img_per_s"), (int, float))]
    best = run_dir / "best" / "best.json"
    rows = {
        "steps": last.get("step", 0),
        "training time": f"{last.get('time_s', 0) / 60:.1f} min",
        "median speed": f"{sorted(speeds)[len(speeds) // 2]:.0f} img/s" if speeds else "–",
        "evaluation time": f"{sum(r.get('eval_s', 0) for r in records):.1f} s",
        "warnings": sum(e.get("event") == "warning" for e in events),
        "rollbacks": sum(e.get("event") == "rollback" for e in events),
    }
    budget = run_dir / "budget.json"
    if budget.exists():  # what was asked, what was planned, what it took
        b = json.loads(budget.read_text())
        took = f"; took {b['trained_s'] / 60:.2f} min" if "trained_s" in b else ""
        ran = f", {b['steps_run']} run" if "steps_run" in b else ""
        replans = f" after {len(b['replans'])} re-plans" if b.get("replans") else ""
        rows["time budget"] = (
            f"{b['minutes']:g} min: {b['steps']} steps planned at {b['step_s'] * 1000:.1f} ms/step "
            f"(cap {b['cap']}){ran}{replans}{took}"
        )
    if (run_dir / "machine.json").exists():
        from gankit.machine import one_line

        rows["machine"] = one_line(json.loads((run_dir / "machine.json").read_text()))
    if best.exists():
        b = json.loads(best.read_text())
        rows["best model"] = f"best/ at step {b['step']}: {b['metric']}.{b['key']} = {b['value']:.4g}"
    body = "".join(f"<tr><td>{k}</td><td>{_fmt(v)}</td></tr>" for k, v in rows.items())
    return f"<table>{body}</table>"


def write_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` from the run's files and return its path."""
    run_dir = Path(run_dir)
    records = _read_jsonl(run_dir / "stats.jsonl")
    events = _read_jsonl(run_dir / "events.jsonl")
    metrics = _read_jsonl(run_dir / "metrics.jsonl")
    grids = sorted(run_dir.glob("fakes_*.png"))
    shown = grids if len(grids) <= 6 else [grids[i * (len(grids) - 1) // 5] for i in range(6)]
    config = (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").exists() else ""
    reals = run_dir / "reals.png"
    curves = "".join(_svg_chart(records, keys, title) for title, keys in TRAINING_CURVES)
    final = _img(grids[-1], "generated, " + grids[-1].stem) if grids else "<p>none</p>"
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>gankit run {html.escape(run_dir.name)}</title><style>{STYLE}</style>
</head><body><h1>gankit run {html.escape(run_dir.name)}</h1>
<h2 id="summary">Summary</h2>{_summary(run_dir, records, events)}
<h2 id="samples">Final samples</h2>{final}
{_img(reals, "real data") if reals.exists() else ""}
<h2 id="curves">Training curves</h2>{curves or "<p>no ticks yet</p>"}
<h2 id="metric-curves">Metrics during training</h2>{_metric_curves(records) or "<p>no evaluations</p>"}
<h2 id="events">Warnings and rollbacks</h2>{_events_table(events)}
<h2 id="progress">Progress</h2>{"".join(_img(g) for g in shown)}
<h2 id="metrics">Metrics</h2>{_metrics_table(metrics)}
<h2 id="config">Config</h2><pre>{html.escape(config)}</pre></body></html>"""
    out = run_dir / "report.html"
    durable.write_text(out, page, sync=False)  # whole or the previous one, if the process is killed
    return out
