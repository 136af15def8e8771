"""A real Milvus Lite gRPC server on 127.0.0.1 for the tests, in its own process.

`milvus-lite server` is the package's console script (`python -m milvus_lite
server`); it keeps its data in a folder, so a server stopped and started
again on the same folder and port is the same store come back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from rag.index.stores.milvus_link import MilvusLink
from rag.schema import StoreUnavailableError
from tests.servers import free_port

START_TIMEOUT_S = 60.0


class MilvusServer:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.address = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = data_dir.parent / f"milvus-{self.port}.log"

    def start(self) -> MilvusServer:
        """Start the server and wait until a client can connect."""
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data_dir),
                 "--host", "127.0.0.1", "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"milvus-lite exited with {self._process.returncode}: {self._log.read_text()[-2000:]}")
            try:
                MilvusLink(self.address, connect_timeout_s=1.0).close()
                return self
            except StoreUnavailableError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"milvus-lite did not answer on {self.address} within {START_TIMEOUT_S} s") \
                        from None

    def stop(self, clean: bool = True) -> None:
        """Stop the server; `clean` as a restart on the same folder needs (a loaded server can take 15 s to
        flush and close), else at once, for a server whose data folder is thrown away."""
        if self._process is not None and self._process.poll() is None and not clean:
            self._process.kill()
            self._process.wait()
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # its clean shutdown: releases the data folder's lock
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def pause(self) -> None:
        """Freeze the server: connections stay open and nothing answers (a hung store)."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)
        # The signal is delivered asynchronously: a search sent at once could still be answered. Wait until the
        # kernel reports every thread of the server stopped (state T), as a hung store is.
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._stopped() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _stopped(self) -> bool:
        assert self._process is not None
        tasks = Path(f"/proc/{self._process.pid}/task")
        try:
            states = [(task / "stat").read_text().rsplit(")", 1)[1].split()[0] for task in tasks.iterdir()]
        except (OSError, IndexError):
            return False
        return bool(states) and all(state in "Tt" for state in states)

    def resume(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)
