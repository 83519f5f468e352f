"""Every report.html opened in headless Chromium: it loads with no console error and no network request, every
picture and video decodes, and each 3D view draws its data (a screenshot of the view changes when the data is hidden).
Every 3D member's ``view`` server opened the same way: its bundled client loads from the local server, connects
(the server says so), and draws (npbgpp: the first live NPBG++ render arrives).

Pages come from a sample run folder holding every kind of file, and from a tiny pipeline run of every installed
member (``<cli> pipeline --config tiny``, all started at once; a member whose tiny run fails is skipped with its
error line). Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``): no port, no
websocket library, nothing downloaded.
"""
from __future__ import annotations

import base64
import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium; `make install` does it as "
                             "root): the reports are not checked in a browser")

# Console scripts of the members, and those whose results are 3D (their report must hold a 3D view).
MEMBER_SCRIPTS = ("lvt", "def-sharp", "npbgpp", "mprcnn", "multineus")
THREE_D_MEMBERS = {"def-sharp", "npbgpp", "multineus"}
TINY_RUN_TIMEOUT_S = 360
PAGE_TIMEOUT_S = 60
VIEWPORT = {"width": 1280, "height": 1000}
# A pixel counts as changed when a channel moves by more than this (antialiasing noise stays below it).
PIXEL_TOLERANCE = 24


class DevToolsError(RuntimeError):
    pass


def terminate(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Browser:
    """Headless Chromium and a blocking DevTools-protocol client over the pipe on file descriptors 3 and 4."""

    def __init__(self, executable: str, profile: Path):
        to_browser_read, self._write = os.pipe()
        self._read, from_browser_write = os.pipe()

        def plumb():  # in the child: the protocol's fixed descriptors (dup first: the pipe may already be 3 or 4)
            incoming, outgoing = os.dup(to_browser_read), os.dup(from_browser_write)
            os.dup2(incoming, 3)
            os.dup2(outgoing, 4)

        flags = ["--headless", "--remote-debugging-pipe", "--no-sandbox", "--no-first-run", "--mute-audio",
                 # WebGL on the CPU: headless machines have no GPU; plotly's 3D views need WebGL.
                 "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "about:blank"]
        self.process = subprocess.Popen([executable, *flags], preexec_fn=plumb, close_fds=False,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, session: str | None = None, timeout: float = PAGE_TIMEOUT_S, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        reply = self._receive(lambda m: m.get("id") == self._next_id, timeout, method)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def wait_event(self, method: str, session: str, timeout: float = PAGE_TIMEOUT_S) -> dict:
        for event in self.events:
            if event.get("method") == method and event.get("sessionId") == session:
                return event
        return self._receive(lambda m: m.get("method") == method and m.get("sessionId") == session, timeout, method)

    def _receive(self, wanted, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" not in message:
                    self.events.append(message)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise DevToolsError(f"no answer to {what} within {timeout:.0f} s")
            if select.select([self._read], [], [], min(left, 1.0))[0]:
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    raise DevToolsError(f"Chromium exited while waiting for {what}")
                self._buffer += chunk

    def close(self) -> None:
        os.close(self._write)
        os.close(self._read)
        terminate(self.process)


class Page:
    """One report opened in its own tab."""

    def __init__(self, browser: Browser, url: str):
        self.browser = browser
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", deviceScaleFactor=1, mobile=False, **VIEWPORT)
        self.call("Page.navigate", url=url)
        browser.wait_event("Page.loadEventFired", self.session)

    def call(self, method: str, **params) -> dict:
        return self.browser.call(method, self.session, **params)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression[:80]}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def _events(self, method: str) -> list[dict]:
        return [e["params"] for e in self.browser.events if e.get("method") == method
                and e.get("sessionId") == self.session]

    def errors(self) -> list[str]:
        found = [e["exceptionDetails"].get("exception", {}).get("description") or e["exceptionDetails"].get("text")
                 for e in self._events("Runtime.exceptionThrown")]
        found += [" ".join(str(a.get("value", a.get("description", ""))) for a in e["args"])
                  for e in self._events("Runtime.consoleAPICalled") if e["type"] in ("error", "assert")]
        found += [f"{e['entry']['text']} ({e['entry'].get('url', '')})" for e in self._events("Log.entryAdded")
                  if e["entry"]["level"] == "error"]
        return found

    def requested_urls(self) -> list[str]:
        return [e["request"]["url"] for e in self._events("Network.requestWillBeSent")]

    def screenshot(self, clip: dict) -> np.ndarray:
        import imageio.v3 as iio

        shot = self.call("Page.captureScreenshot", format="png", clip={**clip, "scale": 1})
        return iio.imread(base64.b64decode(shot["data"]))[..., :3].astype(np.int16)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


MEDIA_STATE = """(async () => {
  const deadline = Date.now() + 15000;
  const media = () => Array.from(document.querySelectorAll('video'));
  while (media().some(v => v.readyState < 1 && !v.error) && Date.now() < deadline)
    await new Promise(r => setTimeout(r, 100));
  return {
    images: Array.from(document.images).map(i => ({src: i.getAttribute('src').slice(0, 60),
                                                  ok: i.complete && i.naturalWidth > 0})),
    videos: media().map(v => ({src: v.getAttribute('src').slice(0, 60), ok: v.readyState >= 1 && !v.error,
                              error: v.error && v.error.message})),
    plots: document.querySelectorAll('.plotly-graph-div').length,
    views: document.querySelectorAll('.views .plotly-graph-div').length,
    text: document.body.innerText,
  };
})()"""

# Brings plot `index` (a 3D view or training curves) into the viewport, waits until plotly has drawn it, and returns
# its rectangle on the page; a 3D view draws on a WebGL canvas that must lie inside that rectangle.
VIEW_RECT = """(async (index) => {
  const view = document.querySelectorAll('.plotly-graph-div')[index];
  const is3d = !!view.closest('.views');
  view.scrollIntoView();
  const deadline = Date.now() + 20000;
  while (!(view._fullLayout && (!is3d || view.querySelector('canvas'))) && Date.now() < deadline)
    await new Promise(r => setTimeout(r, 100));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const box = view.getBoundingClientRect();
  const canvases = Array.from(view.querySelectorAll('canvas')).map(c => c.getBoundingClientRect());
  return {x: box.left + window.scrollX, y: box.top + window.scrollY, width: box.width, height: box.height,
          is3d: is3d, canvases: canvases.length,
          canvas_inside: canvases.every(c => c.left >= box.left - 1 && c.right <= box.right + 1
                                             && c.top >= box.top - 1 && c.bottom <= box.bottom + 1)};
})(%d)"""

HIDE_VIEW_DATA = """(async (index) => {
  const view = document.querySelectorAll('.plotly-graph-div')[index];
  await Plotly.restyle(view, {visible: false});
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
})(%d)"""


def check_report(browser: Browser, report: Path, expect_3d: bool = False) -> None:
    assert report.is_file(), f"{report} was not written"
    page = Page(browser, report.resolve().as_uri())
    state = page.evaluate(MEDIA_STATE)
    assert "WebGL is not supported" not in state["text"], "Chromium has no WebGL: the 3D views cannot draw"
    broken = [i["src"] for i in state["images"] + state["videos"] if not i["ok"]]
    assert not broken, f"{report}: pictures or videos that do not load: {broken} {state['videos']}"
    external = [url for url in page.requested_urls() if not url.startswith(("file:", "data:", "about:"))]
    assert not external, f"{report} requests the network: {external}"
    if expect_3d:
        assert state["views"] > 0, (f"{report} has no 3D view: the run must write its 3D result (PLY mesh, point "
                                    "cloud or line set) under pictures/, see shared_utils.report")
    for index in range(state["plots"]):
        rect = page.evaluate(VIEW_RECT % index)
        assert rect["width"] > 100 and rect["height"] > 100, f"{report}: plot {index} is too small: {rect}"
        if rect["is3d"]:
            assert rect["canvases"], f"{report}: 3D view {index} has no WebGL canvas"
            assert rect["canvas_inside"], f"{report}: 3D view {index} draws outside its box (sized before its layout)"
        clip = {key: rect[key] for key in ("x", "y", "width", "height")}
        drawn = page.screenshot(clip)
        page.evaluate(HIDE_VIEW_DATA % index)
        hidden = page.screenshot(clip)
        changed = float((np.abs(drawn - hidden).max(axis=-1) > PIXEL_TOLERANCE).mean())
        assert changed > 0.002, f"{report}: plot {index} draws nothing ({changed:.2%} of its pixels are data)"
    errors = page.errors()
    assert not errors, f"{report}: console errors: {errors}"


def _sample_run_builder():
    spec = importlib.util.spec_from_file_location("report_tests", ROOT / "shared-utils" / "tests" / "test_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_sample_run


def test_sample_report_in_browser(browser, tmp_path):
    from shared_utils.report import write_report

    run = _sample_run_builder()(tmp_path / "def" / "default")
    check_report(browser, write_report(run), expect_3d=True)


def test_outputs_index_in_browser(browser, tmp_path):
    from shared_utils.report import write_index

    _sample_run_builder()(tmp_path / "outputs" / "def" / "default")
    check_report(browser, write_index(tmp_path / "outputs"))


def _script(name: str) -> str | None:
    beside_python = Path(sys.executable).parent / name
    return str(beside_python) if beside_python.is_file() else shutil.which(name)


@pytest.fixture(scope="module")
def tiny_runs(request, tmp_path_factory):
    """The selected, installed members' tiny pipelines, started together: {script: (process, run folder, log)}."""
    # Only this module's items: other modules (test_registry) parametrise "member" with registry entries.
    selected = {item.callspec.params["member"] for item in request.session.items
                if item.path == request.path and "member" in getattr(getattr(item, "callspec", None), "params", {})}
    root = tmp_path_factory.mktemp("tiny-runs")
    env = {**os.environ, "CI": "true", "THESIS_DATA_ROOT": str(root / "data"), "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    runs = {}
    for name in MEMBER_SCRIPTS:
        script = _script(name)
        if script is None or name not in selected:
            continue
        log = root / f"{name}.log"
        with open(log, "w") as out:
            process = subprocess.Popen([script, "pipeline", "--config", "tiny", "--output-dir", str(root / name)],
                                       cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        runs[name] = (process, root / name, log)
    started = time.monotonic()
    yield runs, started
    for process, _, _ in runs.values():
        if process.poll() is None:
            process.kill()
            process.wait()


def finished_tiny_run(tiny_runs, member: str) -> Path:
    """The member's tiny run folder once its pipeline has ended; the test is skipped (saying why) when the member
    is not installed, its run failed or it ran out of time."""
    runs, started = tiny_runs
    if member not in runs:
        pytest.skip(f"{member} is not installed")
    process, folder, log = runs[member]
    try:
        code = process.wait(timeout=max(1.0, TINY_RUN_TIMEOUT_S - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        pytest.skip(f"{member} pipeline --config tiny took longer than {TINY_RUN_TIMEOUT_S} s")
    if code not in (0, 3):  # 3: an opt-in time limit stopped training, everything was still written
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        error = next((line for line in reversed(lines) if line.startswith("error:")), lines[-1] if lines else "")
        pytest.skip(f"{member} pipeline --config tiny failed (exit {code}): {error}")
    return folder


@pytest.mark.parametrize("member", MEMBER_SCRIPTS)
def test_member_tiny_run_report_in_browser(browser, tiny_runs, member):
    from shared_utils.run import RunDir

    run = RunDir(finished_tiny_run(tiny_runs, member))
    assert run.report.is_file(), (f"{member} pipeline did not write report.html: register pipeline/eval with "
                                  "MemberCLI.add(..., report=True)")
    check_report(browser, run.report, expect_3d=member in THREE_D_MEMBERS)


# --- the 3D members' `view` servers ---------------------------------------------------------------------------------

VIEWER_TIMEOUT_S = 90
# viser's bundled index.html carries an analytics tag; offline its request fails and nothing else depends on it.
KNOWN_EXTERNAL = ("https://www.googletagmanager.com/",)
# What each viewer prints once a browser's client has connected and drawn (npbgpp: its first live render).
VIEWER_READY = {"def-sharp": "browser connected", "multineus": "browser connected", "npbgpp": "first render"}


class ViewerProcess:
    """``<script> view --run-dir RUN --port P`` with its output collected line by line."""

    def __init__(self, script: str, run: Path, port: int, env: dict, extra=()):
        import threading

        self.process = subprocess.Popen([script, "view", "--run-dir", str(run), "--port", str(port), *extra],
                                        env=env, cwd=run.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True).start()

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in self.lines if text in line), None)
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"'{text}' not printed within {timeout:.0f} s; output: {''.join(self.lines)[-2000:]}")

    def stop(self) -> None:
        terminate(self.process)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("member", sorted(VIEWER_READY))
def test_member_viewer_in_browser(browser, tiny_runs, member):
    folder = finished_tiny_run(tiny_runs, member)
    env = {**os.environ, "CI": "true", "THESIS_DATA_ROOT": str(folder.parent / "data"), "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}
    port = _free_port()
    extra = ("--render-height", "64") if member == "npbgpp" else ()
    viewer = ViewerProcess(_script(member), folder, port, env, extra)
    try:
        url = viewer.wait_for("viewer at http://", VIEWER_TIMEOUT_S).split("viewer at ", 1)[1].split()[0]
        assert url == f"http://127.0.0.1:{port}"
        page = Page(browser, url)
        viewer.wait_for(VIEWER_READY[member], VIEWER_TIMEOUT_S)
        time.sleep(2.0)  # let the client draw the scene it was sent
        shot = page.screenshot({"x": 0, "y": 0, "width": VIEWPORT["width"] * 0.6, "height": VIEWPORT["height"]})
        values, counts = np.unique(shot.reshape(-1, 3), axis=0, return_counts=True)
        background = values[counts.argmax()]
        if member == "npbgpp":
            # the live render fills the background (a tiny run's render is nearly flat, so no content is asked)
            assert (background < 250).any(), f"npbgpp view shows viser's empty background, not a render: {background}"
        else:
            drawn = float((np.abs(shot - background).max(axis=-1) > PIXEL_TOLERANCE).mean())
            assert drawn > 0.01, f"{member} view draws nothing ({drawn:.2%} of the canvas differs from its background)"
        local = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")
        external = [u for u in page.requested_urls() if not u.startswith(local + KNOWN_EXTERNAL)]
        assert not external, f"{member} view requests the network: {external}"
    finally:
        viewer.stop()
