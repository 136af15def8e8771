"""`python -m rag serve` that cannot start: one `error: …` line on stderr, exit code 2, and no "serving…" line.

Each case is found before the model loads (a second, not a build), by `python -m rag serve` in a child process
as a user runs it. That the "serving…" line comes only once the server listens is shown with `app.py`'s start
in tests/serve/test_api.py.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tests.servers import free_port

from rag.config import PROJECT_ROOT

HOST_FIX = "set --host or RAG_HOST to an address of this machine: 127.0.0.1 (this machine only) or 0.0.0.0 (every " \
           "interface)"


def serve(*args: str, **variables: str) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAG_")}, **variables}
    return subprocess.run([sys.executable, "-m", "rag", *args, "serve"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_port_in_use(settings) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        run = serve("--index", str(settings.index_dir), RAG_PORT=str(port))
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == (f"error: port {port} on 127.0.0.1 is in use (another server, perhaps `make run`?); stop it, "
                          f"or choose another port with --port or RAG_PORT, e.g. RAG_PORT={port + 1}\n")


@pytest.mark.parametrize(("host", "message"), [
    ("10.254.254.254", rf"host '10\.254\.254\.254' is no address of this machine; {re.escape(HOST_FIX)}"),
    # The resolver's reason in its own words ("Name or service not known", or a failure to ask at all).
    ("no-such-host.invalid", rf"host 'no-such-host\.invalid' cannot be resolved \([^)\n]+\); {re.escape(HOST_FIX)}"),
])
def test_a_host_that_is_not_this_machines(settings, host: str, message: str) -> None:
    run = serve("--index", str(settings.index_dir), RAG_HOST=host, RAG_PORT=str(free_port()))
    assert (run.returncode, run.stdout) == (2, "")
    assert re.fullmatch(f"error: {message}\n", run.stderr), run.stderr


def test_a_missing_corpus(tmp_path: Path) -> None:
    missing = tmp_path / "my-wiki"
    run = serve("--corpus", str(missing), RAG_PORT=str(free_port()))
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == (f"error: corpus folder {missing} does not exist; give --corpus (or RAG_CORPUS_DIR) the "
                          "folder of your .txt, .md and .html pages, or create it and put them there\n")
