"""Timing and memory helpers shared by the rows.

Percentiles use the nearest-rank method on the raw samples (no interpolation),
so p95 of 20 samples is an observed value. A child's peak RSS is its VmHWM,
polled every few milliseconds while it runs: `wait4`'s `ru_maxrss` would count
this (large) process's pages, which a forked child holds until it execs.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parent.parent


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile `q` (0-100) of `samples`."""
    if not samples:
        raise ValueError("no samples to take a percentile of")
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(samples: Sequence[float]) -> float:
    return percentile(samples, 50)


def seconds(call: Callable[[], object]) -> float:
    """Wall time of one call, in seconds."""
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


@dataclass(frozen=True)
class ChildRun:
    wall_s: float
    returncode: int
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_child(args: Sequence[str], env: Mapping[str, str] | None = None, timeout_s: float = 600) -> ChildRun:
    """Run a command to completion; its wall time, exit code, own peak RSS and output."""
    log_dir = Path(os.environ.get("TMPDIR", "/tmp"))
    out_path = log_dir / f"bench-child-{os.getpid()}-{time.monotonic_ns()}.out"
    err_path = out_path.with_suffix(".err")
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(args), stdout=out, stderr=err, env=dict(env or os.environ), cwd=ROOT)
        deadline = started + timeout_s
        peak = 0.0
        while True:
            pid, status = os.waitpid(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _vmhwm_mb(process.pid))
            if time.perf_counter() > deadline:
                process.kill()
                _, status = os.waitpid(process.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    out_path.unlink()
    err_path.unlink()
    return ChildRun(wall, process.returncode, peak, stdout, stderr)


def _vmhwm_mb(pid: int) -> float:
    try:
        return peak_rss_mb(pid)
    except (OSError, RuntimeError):  # exited between the poll and the read
        return 0.0


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a running process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def rss_mb(pid: int) -> float:
    """VmRSS (resident set now, not the peak) of a running process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def own_peak_rss_mb() -> float:
    return peak_rss_mb(os.getpid())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment with the project root importable, plus `extra`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env["TOKENIZERS_PARALLELISM"] = "false"
    env.update(extra)
    return env
