"""The `Row` every benchmark returns, the machine description, the table and the JSON file.

A row's verdict is computed from its ratio and target, never typed by hand;
rows that only report a number (memory, throughput) have no target and
`met=None`, and so do rows that could not run (their `note` says why).
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Target:
    """`ratio <op> value`, e.g. Target("<=", 1.25)."""

    op: str  # "<=", ">=" or ">"
    value: float

    def met(self, ratio: float) -> bool:
        if self.op == "<=":
            return ratio <= self.value
        if self.op == ">=":
            return ratio >= self.value
        if self.op == ">":
            return ratio > self.value
        raise ValueError(f"unknown target operator {self.op!r}; use <=, >= or >")

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass(frozen=True)
class Row:
    name: str
    measured: str  # the project's figure, as read in the table
    floor: str  # what it is divided by, as read in the table
    ratio: float | None
    target: str  # "<= 1.25", or "report" for rows without a target
    met: bool | None  # None: reported only, or skipped
    figures: dict[str, Any] = field(default_factory=dict)  # raw numbers (seconds, ms, MB, counts)
    note: str = ""


def judged(name: str, measured: str, floor: str, ratio: float, target: Target,
           figures: dict[str, Any], note: str = "") -> Row:
    return Row(name, measured, floor, round(ratio, 3), str(target), target.met(ratio), figures, note)


def reported(name: str, measured: str, floor: str, ratio: float | None,
             figures: dict[str, Any], note: str = "") -> Row:
    return Row(name, measured, floor, None if ratio is None else round(ratio, 3), "report", None, figures, note)


def skipped(name: str, reason: str) -> Row:
    return Row(name, "-", "-", None, "-", None, {}, reason)


def machine() -> dict[str, Any]:
    """CPU model, cores and RAM of this machine, read from /proc."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = int(line.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(ram_gib, 1),
            "python": platform.python_version(), "system": f"{platform.system()} {platform.release()}"}


def render(rows: list[Row], info: dict[str, Any], mode: str, seconds: float) -> str:
    """The Markdown table of `rows`, headed by the machine and the run's mode and duration."""
    lines = [f"Machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM, "
             f"Python {info['python']}, {info['system']}",
             f"Mode: {mode}, {seconds:.0f} s in all", "",
             "| row | measured | floor | ratio | target | met |", "|---|---|---|---|---|---|"]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        verdict = {True: "yes", False: "**MISSED**", None: "-"}[row.met]
        lines.append(f"| {row.name} | {row.measured} | {row.floor} | {ratio} | {row.target} | {verdict} |")
    notes = [f"- {row.name}: {row.note}" for row in rows if row.note]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def write_json(path: Path, rows: list[Row]) -> None:
    path.write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n", encoding="utf-8")
