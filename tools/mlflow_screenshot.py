"""Screenshot a stage's run in the MLflow UI of a finished project, in headless chromium.

    python tools/mlflow_screenshot.py [PROJECT] [--stage sft] [--png docs/img/mlflow.png]

Starts `mlflow server` on 127.0.0.1 in PROJECT (default: the current folder) as README's "Opening
the results" does, opens the stage's run page in the "Model training" view (the UI's GenAI /
Model training switch, set as the `?workflowType=machine_learning` link does), waits until the
page shows the run's datasets and logged model, and saves a PNG. Chromium is driven through its
DevTools protocol (a minimal WebSocket client, standard library only), so the page can be set up
first: the assistant side panel closed, the view remembered. Both processes are stopped at the
end, whatever happens. Exits 2 when no chromium is installed (`apt-get install chromium`).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshot import find_browser, shrink_png  # noqa: E402  (tools/screenshot.py, beside this file)

READY_TEXT = ("Datasets", "Logged models")  # the run page has drawn its inputs and outputs
LOCAL_STORAGE = {"mlflow.workflowType_v1": '"machine_learning"', "mlflow.assistant.panelOpen_v1": "false"}
CLOSE_PANEL = '[data-component-id="mlflow.assistant.chat_panel.close"]'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Any, what: str, timeout: float = 120, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except (OSError, ValueError):
            found = None
        if found:
            return found
        time.sleep(every)
    raise TimeoutError(f"{what}: not after {timeout:.0f}s")


def stop(proc: subprocess.Popen | None) -> None:
    """SIGTERM the process group started for ``proc``, SIGKILL it after 15 s."""
    if proc is None or proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=15)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


class DevTools:
    """A page's DevTools WebSocket: send a command, get its result (events are skipped)."""

    def __init__(self, ws_url: str) -> None:
        url = urllib.parse.urlparse(ws_url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {url.path} HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError(f"DevTools refused the WebSocket: {head[:200]!r}")
        self.last_id = 0

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            data += chunk
        return data

    def _send(self, text: str) -> None:
        data = text.encode()
        size = len(data)
        head = bytes([0x81]) + (
            bytes([0x80 | size])
            if size < 126
            else bytes([0x80 | 126]) + struct.pack(">H", size)
            if size < 1 << 16
            else bytes([0x80 | 127]) + struct.pack(">Q", size)
        )
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _message(self) -> dict[str, Any]:
        parts: list[bytes] = []
        while True:
            first, second = self._exact(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack(">H", self._exact(2))[0]
            elif size == 127:
                size = struct.unpack(">Q", self._exact(8))[0]
            payload = self._exact(size)
            opcode = first & 0x0F
            if opcode == 8:
                raise ConnectionError("DevTools closed the connection")
            if opcode in (0, 1, 2):
                parts.append(payload)
                if first & 0x80:
                    return json.loads(b"".join(parts))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        self._send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:
            msg = self._message()
            if msg.get("id") == self.last_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")


def start_server(project: Path, port: int, log: Path) -> subprocess.Popen:
    mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
    cmd = [mlflow_bin, "server", "--backend-store-uri", "sqlite:///mlflow.db", "--artifacts-destination", "mlruns"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    with log.open("w") as out:
        return subprocess.Popen(cmd, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stage_run(base: str, stage: str) -> tuple[str, str]:
    """(experiment id, run id) of the newest run of ``stage``, through the REST API."""
    query = urllib.parse.urlencode({"experiment_name": "preftree"})
    with urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/get-by-name?{query}", timeout=30) as resp:
        exp_id = json.loads(resp.read())["experiment"]["experiment_id"]
    body = {"experiment_ids": [exp_id], "filter": f"tags.`dvc.stage` = '{stage}'", "max_results": 1}
    req = urllib.request.Request(
        f"{base}/api/2.0/mlflow/runs/search", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        runs = json.loads(resp.read()).get("runs", [])
    if not runs:
        raise SystemExit(f"no MLflow run of stage {stage} in {base}")
    return exp_id, runs[0]["info"]["run_id"]


def capture(browser: str, url: str, home: str, png: Path, size: tuple[int, int]) -> None:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        cmd = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
        cmd += ["--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"]
        proc = subprocess.Popen(
            [*cmd, "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            active = Path(profile) / "DevToolsActivePort"
            port = wait_for(lambda: active.is_file() and active.read_text().split()[0], "chromium's DevTools port", 60)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
                page = next(t for t in json.loads(resp.read()) if t["type"] == "page")
            tab = DevTools(page["webSocketDebuggerUrl"])
            tab.call(
                "Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1, mobile=False
            )
            tab.call("Page.navigate", url=home)
            wait_for(lambda: tab.js("document.readyState") == "complete", "the MLflow UI", 60)
            tab.js(
                ";".join(f"localStorage.setItem({json.dumps(k)}, {json.dumps(v)})" for k, v in LOCAL_STORAGE.items())
            )
            tab.call("Page.navigate", url=url)
            ready = " && ".join(f"document.body.innerText.includes({json.dumps(t)})" for t in READY_TEXT)
            wait_for(lambda: tab.js(ready), f"{READY_TEXT} on {url}", 90)
            tab.js(f"document.querySelector({json.dumps(CLOSE_PANEL)})?.click()")
            time.sleep(2)  # let the last requests (metrics, model rows) land and the layout settle
            shot = tab.call("Page.captureScreenshot", format="png")
            png.parent.mkdir(parents=True, exist_ok=True)
            png.write_bytes(base64.b64decode(shot["data"]))
        finally:
            stop(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", nargs="?", type=Path, default=Path("."), help="a project with a finished run")
    parser.add_argument("--stage", default="sft", help="the stage whose run page to capture")
    parser.add_argument("--png", type=Path, default=Path("docs/img/mlflow.png"))
    parser.add_argument("--size", default="1400x1800", help="window WIDTHxHEIGHT in px")
    args = parser.parse_args(argv)
    browser = find_browser()
    if browser is None:
        print("no chromium found: apt-get install chromium", file=sys.stderr)
        return 2
    project = args.project.resolve()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="mlflow-server-") as tmp:
        log = Path(tmp) / "server.log"
        server = start_server(project, port, log)
        try:
            wait_for(
                lambda: urllib.request.urlopen(f"{base}/health", timeout=5).read().strip() == b"OK", "mlflow server"
            )
            exp_id, run_id = stage_run(base, args.stage)
            url = f"{base}/#/experiments/{exp_id}/runs/{run_id}?workflowType=machine_learning"
            width, height = (int(v) for v in args.size.split("x"))
            capture(browser, url, f"{base}/#/", args.png, (width, height))
        except Exception:
            print(log.read_text()[-2000:], file=sys.stderr)
            raise
        finally:
            stop(server)
    shrink_png(args.png)
    print(f"{args.png}: {args.png.stat().st_size // 1024} KB, run {run_id} ({args.stage})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
