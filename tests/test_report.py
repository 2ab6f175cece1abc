"""report.html: self-contained, and drawn by a real browser (headless Chromium) with its charts and grids."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

import gankit
from gankit.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
# CI installs Debian's chromium and sets this, so a missing browser fails there instead of skipping
REQUIRED = os.environ.get("GANKIT_REQUIRE_BROWSER") == "1"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the sandbox has no network: don't let it try
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("report") / "run"
    gankit.train(
        data="digits",
        steps=300,
        out=run,
        threads=1,
        lr_g=1e25,  # diverges at once: the report must show the rollback
        lr_d=1e25,
        overrides=[
            "train.log_every=25",
            "monitor.eval_every=100",
            "monitor.rollback_lr_factor=2e-29",
            "optim.schedule=constant",
        ],
    )
    gankit.evaluate(run, metrics=["fd_classifier_5k"], n=500)
    return run


def test_report_is_self_contained_and_complete(run_dir):
    page = (run_dir / "report.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from a network
    assert page.count('class="chart"') >= 5  # losses, D outputs, gradient norms, diversity, speed
    assert "eval/fd_classifier_5k/fd" in page  # the metric curve from --eval-every
    assert 'class="rollback"' in page
    assert "weights_sha256=" in page and "held_out_accuracy=" in page  # provenance of the metric
    assert page.count("data:image/png;base64,") >= 3  # final grid, reals, progression


def test_report_command_rewrites_it(run_dir, capsys):
    (run_dir / "report.html").unlink()
    main(["report", str(run_dir)])
    assert (run_dir / "report.html").exists()
    assert "report.html" in capsys.readouterr().out


def _chromium(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None and not REQUIRED, reason="no chromium (CI installs it)")
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    assert CHROMIUM is not None, "chromium is required here (GANKIT_REQUIRE_BROWSER=1)"
    url = (run_dir / "report.html").resolve().as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path).stdout
    assert "<h1>gankit run" in dom
    assert len(re.findall(r'<svg class="chart"', dom)) >= 5
    assert len(re.findall(r'<polyline class="curve"', dom)) >= 5  # the curves were drawn, not empty boxes
    assert len(re.findall(r"<img src=\"data:image/png", dom)) >= 3

    shot = tmp_path / "report.png"
    done = _chromium(["--window-size=1200,1600", f"--screenshot={shot}", url], tmp_path)
    assert shot.exists(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape[:2] == (1600, 1200)
    assert (pixels < 200).mean() > 0.02  # text, curves and samples: not a blank page
    # the final sample grid (dark digits on their own background) is drawn near the top
    top = pixels[:700]
    assert top.std() > 40
