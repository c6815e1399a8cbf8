"""Write the vega libraries that `dvc plots show` pages load, so they open with no network.

DVC's default page loads vega, vega-lite and vega-embed from a CDN. `.dvc/config` points
`dvc plots show` at tools/dvc-plots.html instead, which loads one local file, `vega-bundle.js`,
beside the page. This writes that file from the pinned `vl-convert-python` package (vega,
vega-lite and vega-embed in one script; nothing is fetched):

    python tools/vega_bundle.py [OUT_DIR]    # OUT_DIR/vega-bundle.js, default dvc_plots (make plots)

It rewrites the file only when it is missing or was written by another version.
"""

from __future__ import annotations

import argparse
import os
from importlib.metadata import version
from pathlib import Path

BUNDLE_NAME = "vega-bundle.js"
# DVC 3's plot templates declare vega-lite v5 ($schema .../vega-lite/v5.json); vega-embed warns
# when the loaded vega-lite has another major version, so the bundle carries a v5.
VEGA_LITE = "5.21"


def bundle_header() -> str:
    """First line of the bundle: which package and vega-lite wrote it (decides whether to rewrite)."""
    return f"/* vega bundle: vl-convert-python {version('vl-convert-python')}, vega-lite {VEGA_LITE} */\n"


def is_current(path: Path) -> bool:
    """True when `path` is a bundle written by this package version and vega-lite."""
    if not path.is_file():
        return False
    with path.open(encoding="utf-8") as f:
        return f.readline() == bundle_header()


def write_bundle(out_dir: Path) -> Path:
    """Write `out_dir/vega-bundle.js` unless it is current; return its path."""
    import vl_convert  # imported here: only this command needs the 80 MB package loaded

    path = out_dir / BUNDLE_NAME
    if is_current(path):
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    text = bundle_header() + vl_convert.javascript_bundle(vl_version=VEGA_LITE) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="dvc_plots", type=Path, help="folder of the plots page")
    args = parser.parse_args(argv)
    print(write_bundle(args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
