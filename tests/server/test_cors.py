"""CORS: a page on another origin calls the API in headless Chromium (preflight included); allowed origins are
configurable (default "*", LibreTranslate's), and every answer, errors included, carries the headers."""

from __future__ import annotations

import http.server
import json
import threading

import httpx
import pytest

from .conftest import MAIN_ARGS, free_port, post_json
from .test_page import browser  # noqa: F401 - the headless Chromium fixture

EN = "The house is green and we walk to school every morning."
DE = "Das Haus ist grün und wir gehen jeden Morgen zur Schule."

PAGE = """<!doctype html><meta charset="utf-8"><title>other origin</title><script>
const API = %(api)s;
async function call(path, payload) {
  const response = await fetch(API + path, payload === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload)});
  return {status: response.status, body: await response.json()};
}
window.results = null;
(async () => {
  try {
    window.results = {
      translate: await call("/translate", {q: [%(en)s, %(de)s], source: "auto", target: "fr", alternatives: 1}),
      detect: await call("/detect", {q: %(de)s}),
      languages: await call("/languages"),
      error: await call("/translate", {q: "x", source: "en", target: "zz"}),
    };
  } catch (e) {
    window.results = {failed: String(e)};
  }
})();
</script>"""


@pytest.fixture(scope="module")
def page_origin(server):
    """An HTTP server on another port (another origin) serving /page.html, which calls `api` (set per test)."""
    port = free_port()
    pages: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path.split("?")[0])
            self.send_response(200 if body else 404)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield port, pages
    httpd.shutdown()


@pytest.fixture(scope="module")
def restricted_server(start_server, page_origin):
    """Only http://127.0.0.1:<page port> may call this server from a browser."""
    port, _ = page_origin
    return start_server([*MAIN_ARGS, "--cors-origins", f"http://127.0.0.1:{port}"]).wait_ready()


def _load(browser, url: str) -> dict:  # noqa: F811
    browser.call("Page.navigate", url=url)
    browser.wait_for("window.results !== undefined && window.results !== null", timeout=60)
    return browser.eval("window.results")


def test_page_on_another_origin_calls_the_api(browser, restricted_server, page_origin, translator):  # noqa: F811
    port, pages = page_origin
    api = restricted_server.url
    pages["/page.html"] = (PAGE % {"api": json.dumps(api), "en": json.dumps(EN), "de": json.dumps(DE)}).encode()
    results = _load(browser, f"http://127.0.0.1:{port}/page.html")
    assert "failed" not in results, results

    found = [candidates[0] for candidates in translator.detect_candidates([EN, DE], 1)]
    translate = results["translate"]
    assert translate["status"] == 200
    beams = max(2, translator.model.generation_config.num_beams or 1)
    nbest = [translator.translate_nbest([text], code, "fr", 2, num_beams=beams)[0] for text, (code, _) in
             zip([EN, DE], found)]
    assert translate["body"]["translatedText"] == [n[0] for n in nbest]
    assert translate["body"]["alternatives"] == [n[1:] for n in nbest]
    assert translate["body"]["detectedLanguage"] == [
        {"confidence": round(100 * conf, 1), "language": code} for code, conf in found]
    assert results["detect"]["status"] == 200 and results["detect"]["body"][0]["language"] == "de"
    assert results["languages"]["status"] == 200 and len(results["languages"]["body"]) == 100
    # an error answer is readable from the other origin too
    assert results["error"]["status"] == 400 and "zz is not supported" in results["error"]["body"]["error"]
    # the JSON POSTs were preflighted (OPTIONS), and answered
    assert "OPTIONS /translate 200" in restricted_server.log()

    # the same page on an origin that is not allowed: the browser refuses to hand over the answers
    results = _load(browser, f"http://localhost:{port}/page.html")
    assert "Failed to fetch" in results.get("failed", ""), results


def test_cors_headers_on_every_answer(server, restricted_server, page_origin):
    origin = {"origin": "https://elsewhere.example"}
    answers = [
        httpx.get(server.url + "/languages", headers=origin, timeout=10),
        post_json(server, "/translate", {"q": "x", "source": "en", "target": "zz"}, headers=origin),
        httpx.get(server.url + "/nope", headers=origin, timeout=10),
        httpx.post(server.url + "/translate", content=b"x" * 70000, headers={**origin, "content-type": "text/plain"},
                   timeout=10),
    ]
    assert [a.status_code for a in answers] == [200, 400, 404, 413]
    assert all(a.headers.get("access-control-allow-origin") == "*" for a in answers)
    preflight = httpx.options(server.url + "/translate", timeout=10, headers={
        **origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()

    # restricted: the allowed origin is echoed, another gets no CORS header (and its preflight a 400)
    port, _ = page_origin
    allowed = httpx.get(restricted_server.url + "/languages", headers={"origin": f"http://127.0.0.1:{port}"},
                        timeout=10)
    assert allowed.headers["access-control-allow-origin"] == f"http://127.0.0.1:{port}"
    refused = httpx.get(restricted_server.url + "/languages", headers=origin, timeout=10)
    assert refused.status_code == 200 and "access-control-allow-origin" not in refused.headers
    preflight = httpx.options(restricted_server.url + "/translate", timeout=10, headers={
        **origin, "access-control-request-method": "POST"})
    assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize("value, fragment", [
    ("https://a.example/", "no path, no trailing slash"),
    ("*,https://a.example", "cannot be combined"),
    ("a.example", "is not an origin"),
])
def test_bad_origin_settings_stop_the_server_at_startup(value, fragment, tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "m2m100", "serve", "--model", str(tmp_path), "--port", "0",
                             "--cors-origins", value], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--cors-origins / M2M100_CORS_ORIGINS" in result.stderr and fragment in result.stderr
