"""`dvc plots show` opens offline (tools/dvc-plots.html + tools/vega_bundle.py) and names every axis;
with chromium installed, a headless browser with no network draws every plot (tools/screenshot.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools import screenshot, vega_bundle

REPO = Path(__file__).resolve().parents[1]
DVC = Path(sys.executable).with_name("dvc")
SCRIPT_SRC = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """index.html of a plain `dvc plots show` on the committed metrics/, plus the bundle `make plots` adds."""
    out = tmp_path_factory.mktemp("dvc_plots")
    dvc = str(DVC) if DVC.exists() else "dvc"
    subprocess.run([dvc, "plots", "show", "-o", str(out)], cwd=REPO, check=True, capture_output=True, timeout=300)
    vega_bundle.write_bundle(out)
    return out / "index.html"


def plot_definitions() -> dict[str, dict]:
    """Every plot of dvc.yaml (top-level and stage outputs, foreach bodies included) -> its properties."""
    doc = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    entries = list(doc.get("plots", []))
    for stage in doc["stages"].values():
        entries += stage.get("plots", []) + stage.get("do", {}).get("plots", [])
    defs: dict[str, dict] = {}
    for entry in entries:
        name, props = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
        defs[name] = props or {}
    return defs


def test_every_plot_names_both_axes_and_has_a_title() -> None:
    defs = plot_definitions()
    assert len(defs) >= 8
    unlabelled = {n: sorted({"title", "x_label", "y_label"} - set(p)) for n, p in defs.items()}
    assert {n: missing for n, missing in unlabelled.items() if missing} == {}
    assert not [n for n, p in defs.items() if str(p["y_label"]).strip().lower() in ("y", "x", "")]


def test_plots_page_loads_only_local_scripts(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    sources = SCRIPT_SRC.findall(html)
    assert sources == [vega_bundle.BUNDLE_NAME]
    assert not re.search(r"src\s*=\s*[\"']?(https?:)?//", html, re.IGNORECASE)
    bundle = page.parent / sources[0]
    text = bundle.read_text(encoding="utf-8")
    assert text.startswith(vega_bundle.bundle_header())
    assert "window.vegaEmbed=" in text.replace(" ", "")
    # The bundle's vega-lite has the major version DVC's templates declare in their $schema.
    schemas = set(re.findall(r"vega-lite/v(\d+)\.json", html))
    assert schemas == {vega_bundle.VEGA_LITE.split(".")[0]}
    ids = screenshot.plot_ids(html)
    fixed = [re.sub(r"\W", "_", name) for name in plot_definitions() if "${" not in name]
    assert len(ids) > len(fixed) and set(fixed) <= set(ids)  # foreach plots add one per key


def test_bundle_is_rewritten_only_when_missing_or_stale(page: Path) -> None:
    bundle = page.parent / vega_bundle.BUNDLE_NAME
    before = bundle.stat().st_mtime_ns
    assert vega_bundle.write_bundle(page.parent) == bundle and bundle.stat().st_mtime_ns == before
    stale = page.parent.parent / "stale"
    stale.mkdir()
    (stale / vega_bundle.BUNDLE_NAME).write_text("/* vega bundle: some older version */\n", encoding="utf-8")
    assert vega_bundle.is_current(vega_bundle.write_bundle(stale))


def test_axis_check_rejects_unlabelled_or_undrawn_plots() -> None:
    views = {
        "ok": screenshot.PlotView(svg=True, axis_titles=["training step", "loss (nats)"]),
        "y": screenshot.PlotView(svg=True, axis_titles=["N", "y"]),
        "one": screenshot.PlotView(svg=True, axis_titles=["N"]),
        "blank": screenshot.PlotView(),
    }
    assert sorted(screenshot.problems(views)) == ["blank", "one", "y"]


@pytest.mark.slow
@pytest.mark.skipif(screenshot.find_browser() is None, reason="no chromium (apt-get install chromium)")
def test_offline_browser_draws_every_plot_with_named_axes(page: Path, tmp_path: Path) -> None:
    browser = screenshot.find_browser()
    assert browser is not None
    ids = screenshot.plot_ids(page.read_text(encoding="utf-8"))
    views = screenshot.read_plots(screenshot.render_dom(browser, page), ids)
    assert screenshot.problems(views) == {}
    assert all(v.title for v in views.values())
    png = screenshot.screenshot(browser, page, tmp_path / "plots.png", screenshot.window_size(len(ids), 1600))
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and 20_000 < len(data) < 300_000
    # Without the local bundle the same browser draws nothing and the page says how to fix it:
    # the check really runs offline (DVC's default page, which loads vega from a CDN, draws nothing too).
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(page, bare / "index.html")
    dom = screenshot.render_dom(browser, bare / "index.html")
    assert set(screenshot.problems(screenshot.read_plots(dom, ids))) == set(ids)
    assert 'id="vega-missing"' in dom and "make plots" in dom
