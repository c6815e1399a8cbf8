"""Open a `dvc plots show` page in headless chromium with no network; check every plot; screenshot it.

    python tools/screenshot.py dvc_plots/index.html [--png docs/img/dvc-plots.png]

Chromium runs with every host name unresolvable and every request sent to a closed proxy, so the
page can only use local files. After rendering, the page's DOM is read back: each plot
(`vegaEmbed('#id', ...)` in the page) must have drawn an SVG whose x and y axes carry titles other
than `x` / `y`. Prints one line per plot and exits 1 when any plot is missing or unlabelled, 2
when no chromium is installed (`apt-get install chromium`).
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
OFFLINE_FLAGS = (
    "--headless=new",
    "--disable-gpu",
    "--no-sandbox",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)
EMBED_CALL = re.compile(r"vegaEmbed\('#([^']+)'")
# Layout of tools/dvc-plots.html: plots flow left to right; about this much room each.
PLOT_W, PLOT_H = 520, 430


@dataclass
class PlotView:
    """What the browser drew inside one plot's div."""

    svg: bool = False
    title: str = ""
    axis_titles: list[str] = field(default_factory=list)


class _PlotDom(HTMLParser):
    """Collects, per plot div id, whether an SVG was drawn, its title and its axis titles."""

    def __init__(self, ids: set[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.ids = ids
        self.views: dict[str, PlotView] = {}
        self.stack: list[tuple[str, str, str | None]] = []  # (tag, class, plot id it opened)
        self.current: str | None = None
        self.text_kind: str | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        cls = a.get("class") or ""
        opened = None
        if tag == "div" and a.get("id") in self.ids:
            opened = self.current = a["id"]
            self.views[opened] = PlotView()
        if self.current is not None:
            view = self.views[self.current]
            view.svg = view.svg or (tag == "svg" and "marks" in cls)
            if tag == "text" and self.text_kind is None:
                kinds = [c for _, c, _ in self.stack]
                if any("role-axis-title" in c for c in kinds):
                    self.text_kind = "axis"
                elif any("role-title-text" in c for c in kinds):
                    self.text_kind = "title"
                self.text = ""
        self.stack.append((tag, cls, opened))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            open_tag, _, opened = self.stack.pop()
            if opened is not None:
                self.current = None
            if open_tag == "text" and self.text_kind and self.current is not None:
                view = self.views[self.current]
                if self.text_kind == "axis":
                    view.axis_titles.append(self.text.strip())
                else:
                    view.title = (view.title + " " + self.text.strip()).strip()
                self.text_kind = None
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.text_kind is not None:
            self.text += data


def find_browser() -> str | None:
    """Path of an installed chromium / chrome, or None."""
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def plot_ids(html: str) -> list[str]:
    """Div ids of the plots a `dvc plots show` page embeds, in page order."""
    return EMBED_CALL.findall(html)


def read_plots(dom: str, ids: list[str]) -> dict[str, PlotView]:
    """What was drawn for each plot id in a rendered DOM (ids with no div map to an empty view)."""
    parser = _PlotDom(set(ids))
    parser.feed(dom)
    return {i: parser.views.get(i, PlotView()) for i in ids}


def problems(views: dict[str, PlotView]) -> dict[str, str]:
    """Plot id -> why it fails: not drawn, or fewer than two axis titles, or an axis titled x / y."""
    bad: dict[str, str] = {}
    for pid, view in views.items():
        if not view.svg:
            bad[pid] = "not rendered (no SVG drawn)"
        elif len(view.axis_titles) < 2:
            bad[pid] = f"axis titles {view.axis_titles}: an axis has no title"
        elif any(t.lower() in ("x", "y", "") for t in view.axis_titles):
            bad[pid] = f"axis titles {view.axis_titles}: an axis reads x / y"
    return bad


def _run(browser: str, args: list[str], timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        cmd = [browser, *OFFLINE_FLAGS, f"--user-data-dir={profile}", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{browser} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def render_dom(browser: str, page: Path, budget_ms: int = 15000, timeout: float = 120) -> str:
    """The page's DOM after its scripts ran (offline), as chromium serialises it."""
    return _run(browser, [f"--virtual-time-budget={budget_ms}", "--dump-dom", page.resolve().as_uri()], timeout)


def window_size(n_plots: int, width: int) -> tuple[int, int]:
    """A window that shows `n_plots` laid out as tools/dvc-plots.html flows them at `width`."""
    per_row = max(1, width // PLOT_W)
    return width, 40 + math.ceil(n_plots / per_row) * PLOT_H


def screenshot(browser: str, page: Path, png: Path, size: tuple[int, int], budget_ms: int = 15000) -> Path:
    """Write a PNG of the rendered page (offline)."""
    png.parent.mkdir(parents=True, exist_ok=True)
    args = [
        f"--virtual-time-budget={budget_ms}",
        "--hide-scrollbars",
        f"--window-size={size[0]},{size[1]}",
        f"--screenshot={png.resolve()}",
        page.resolve().as_uri(),
    ]
    _run(browser, args, timeout=120)
    if not png.is_file():
        raise RuntimeError(f"{browser} wrote no screenshot to {png}")
    shrink_png(png)
    return png


def shrink_png(png: Path, colors: int = 64) -> None:
    """Re-save `png` with a small palette (plots use few colours), when Pillow is installed."""
    try:
        from PIL import Image  # matplotlib's dependency; optional here
    except ImportError:
        return
    with Image.open(png) as img:
        small = img.convert("RGB").quantize(colors=colors)
    small.save(png, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="the index.html that `dvc plots show` wrote")
    parser.add_argument("--png", type=Path, help="also save a screenshot here")
    parser.add_argument("--width", type=int, default=1600, help="window width for the screenshot (px)")
    args = parser.parse_args(argv)
    browser = find_browser()
    if browser is None:
        print("no chromium found: apt-get install chromium", file=sys.stderr)
        return 2
    ids = plot_ids(args.page.read_text(encoding="utf-8"))
    if not ids:
        print(f"{args.page}: no vega plots in the page", file=sys.stderr)
        return 1
    views = read_plots(render_dom(browser, args.page), ids)
    bad = problems(views)
    for pid, view in views.items():
        status = bad.get(pid, "ok")
        print(f"{pid}: {status}; title {view.title!r}; axes {view.axis_titles}")
    print(f"{len(ids) - len(bad)}/{len(ids)} plots rendered with named axes, offline")
    if args.png:
        print(screenshot(browser, args.page, args.png, window_size(len(ids), args.width)))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
