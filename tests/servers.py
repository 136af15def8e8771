"""Real servers for the web tests: the app under uvicorn, a static 'wiki', a browser.

`start_app` runs uvicorn in a thread of the test process on a free 127.0.0.1
port, so every configuration shares the session's loaded model; `serve_files`
stands in for a wiki on another port (another origin); `launch_chromium`
starts the Debian Chromium through Playwright. Each returns something to stop.
"""

from __future__ import annotations

import fcntl
import functools
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from rag.serve.api.timeouts import uvicorn_options

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 60.0
# A test server's stop waits this long for open connections (`rag.serve.api.serve` waits
# `Settings.shutdown_grace_s`): the tests' Gradio clients can leave one open, and every test has its answers by the
# time it stops the server.
STOP_GRACE_S = 1


# Ports handed out in this test run, by every xdist worker. Milvus Lite's gRPC server binds with
# SO_REUSEPORT: two servers given the same free port would both start, and the kernel would share the
# connections between them (seen: a paused server's searches answered by another worker's). The kernel
# may well give a port back once it is free again, so the run remembers what it handed out.
_GIVEN_PORTS = Path(tempfile.gettempdir()) / f"rag-test-ports-{os.environ.get('PYTEST_XDIST_TESTRUNUID', os.getpid())}"


def free_port() -> int:
    """A free 127.0.0.1 port that no other test of this run was given."""
    with _GIVEN_PORTS.open("a+", encoding="utf-8") as given:
        fcntl.flock(given, fcntl.LOCK_EX)
        given.seek(0)
        taken = {int(line) for line in given.read().split()}
        while True:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            if port not in taken:
                given.write(f"{port}\n")
                return port


@dataclass
class RunningApp:
    url: str  # base URL, root_path included, without a trailing slash
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_app(app: FastAPI, root_path: str = "") -> RunningApp:
    """Serve `app` like `rag.serve.api.serve` does (uvicorn, root_path) and wait until /healthz answers."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, root_path=root_path, log_level="warning",
                            timeout_graceful_shutdown=STOP_GRACE_S, **uvicorn_options(app.state.settings))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    running = RunningApp(f"http://127.0.0.1:{port}{root_path}", server, thread)
    wait_for(f"{running.url}/healthz")
    return running


def wait_for(url: str, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError as err:
            last = err
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s}s (last error: {last})")


@contextmanager
def serve_files(directory: Path) -> Iterator[str]:
    """A plain static file server on another port (another origin): the stand-in wiki."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def launch_chromium() -> Iterator[object]:
    """A headless Chromium (Playwright `Browser`); never downloads a browser of its own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


ANSWER_TIMEOUT_MS = 30_000  # the first answer in a fresh page also waits for Gradio to connect


def ask_in_frame(frame: object, question: str) -> object:
    """Ask in the embedded chat (a Playwright frame locator); returns its first citation marker, once shown."""
    frame.locator("#rag-question textarea").fill(question)
    frame.locator("#rag-question textarea").press("Enter")
    marker = frame.locator(".rag-reply a.rag-cite").first
    marker.wait_for(timeout=ANSWER_TIMEOUT_MS)
    return marker


def ask_in_page(page: object, question: str) -> object:
    """Type `question` into the chat page, send it, and return its reply element once shown."""
    before = page.locator(".rag-reply").count()
    page.locator("#rag-question textarea").fill(question)
    page.locator("#rag-question textarea").press("Enter")
    page.wait_for_function("n => document.querySelectorAll('.rag-reply').length > n", arg=before,
                           timeout=ANSWER_TIMEOUT_MS)
    return page.locator(".rag-reply").last
