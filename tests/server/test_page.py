"""The web page at / in headless Chromium (Debian's chromium package), driven over the Chrome DevTools
Protocol with websocket-client: pick languages, type, translate, see the result; swap; copy. Skipped when no
chromium binary is installed (CI installs it: see .ci/run)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class DevTools:
    """A minimal CDP client over one page target."""

    def __init__(self, ws_url: str):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self._id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def eval(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True,
                           userGesture=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression}; status: {self.eval(STATUS)!r}")
            time.sleep(0.05)

    def click(self, selector: str) -> None:
        """A real mouse click at the element's centre."""
        box = self.eval(f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
                        f" return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def close(self) -> None:
        self.ws.close()


STATUS = "document.getElementById('status').textContent"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = find_chromium()
    if binary is None:
        pytest.skip("no chromium binary found (apt-get install chromium; CI installs it in .ci/run)")
    pytest.importorskip("websocket", reason="the page test drives Chromium with websocket-client")
    profile: Path = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen(
        [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--remote-allow-origins=*",
         f"--user-data-dir={profile}", "--window-size=1200,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chromium did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(t for t in targets if t.get("type") == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        yield tools
        tools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_page_translates(browser, server, translator):
    browser.call("Network.enable")
    browser.call("Page.enable")
    browser.call("Page.navigate", url=server.url + "/")
    browser.wait_for("document.readyState === 'complete'")
    # Language pickers are filled from /languages.
    browser.wait_for("document.querySelectorAll('#source option').length === 100"
                     " && !document.getElementById('target').disabled")
    names = browser.eval("[...document.querySelectorAll('#target option')].map(o => o.value)")
    # LibreTranslate's codes: zh-Hans for zh, nb for no
    assert names == [{"zh": "zh-Hans", "no": "nb"}.get(code, code) for code, _ in translator.languages()]
    assert "English" in browser.eval("document.querySelector('#source option[value=en]').textContent")

    # Pick languages, type, translate, see the result.
    browser.eval("(() => { const s = document.getElementById('source'); s.value = 'en';"
                 " s.dispatchEvent(new Event('change')); const t = document.getElementById('target');"
                 " t.value = 'de'; t.dispatchEvent(new Event('change')); })()")
    text = "The house is green and we walk to school every morning."
    browser.click("#text")
    browser.call("Input.insertText", text=text)
    assert browser.eval("document.getElementById('text').value") == text
    assert browser.eval("document.getElementById('count').textContent").startswith(f"{len(text)} /")
    browser.click("#translate")
    expected = translator.translate(text, "en", "de")
    browser.wait_for("document.getElementById('result').value !== ''")
    assert browser.eval("document.getElementById('result').value") == expected
    assert browser.eval(STATUS) == ""

    # Swap: languages and texts change places.
    browser.click("#swap")
    assert browser.eval("document.getElementById('source').value") == "de"
    assert browser.eval("document.getElementById('target').value") == "en"
    assert browser.eval("document.getElementById('text').value") == expected
    assert browser.eval("document.getElementById('result').value") == text

    # Ctrl+Enter translates (de -> en now).
    browser.click("#text")
    for kind in ("keyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13,
                     modifiers=2)
    expected_back = translator.translate(expected, "de", "en")
    browser.wait_for(f"document.getElementById('result').value === {json.dumps(expected_back)}")

    # Copy puts the translation on the clipboard.
    try:
        browser.call("Browser.grantPermissions", origin=server.url,
                     permissions=["clipboardReadWrite", "clipboardSanitizedWrite"])
        can_read = True
    except RuntimeError:
        can_read = False
    browser.click("#copy")
    browser.wait_for(f"{STATUS}.startsWith('Copied')")
    if can_read:
        assert browser.eval("navigator.clipboard.readText()") == expected_back

    # Every request the page made went to this server (no CDN).
    urls = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    assert urls and all(u.startswith(server.url) or u.startswith("data:") for u in urls), urls


def test_page_shows_errors(browser, server):
    browser.call("Page.navigate", url=server.url + "/")
    browser.wait_for("document.readyState === 'complete' && !document.getElementById('target').disabled")
    browser.eval("document.getElementById('text').value = ''")
    browser.click("#translate")
    browser.wait_for(f"{STATUS}.includes('Type some text')")
    # A server-side error is shown, not swallowed: too long for the server's 2000-character limit.
    browser.eval("(() => { const t = document.getElementById('text'); t.removeAttribute('maxlength');"
                 " t.value = 'a'.repeat(2001); })()")
    browser.click("#translate")
    browser.wait_for(f"{STATUS}.includes('2000')")
    assert "Translation failed" in browser.eval(STATUS)


def test_page_has_no_external_resources(server):
    for path in ("/", "/static/app.js", "/static/style.css"):
        response = httpx.get(server.url + path, timeout=10)
        assert response.status_code == 200
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", response.text), path
        assert not re.search(r"""(fetch|import)\(\s*["'](https?:)?//""", response.text), path
    assert httpx.get(server.url + "/", timeout=10).headers["content-type"].startswith("text/html")
