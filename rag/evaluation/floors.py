"""`--min METRIC=VALUE` and `--max METRIC=VALUE`: parsed before a run, checked after it."""

from __future__ import annotations

from collections.abc import Sequence

from rag.evaluation.metrics import METRIC_NAMES, Metric
from rag.schema import ConfigError


def parse_limits(limits: Sequence[str], flag: str = "--min") -> tuple[tuple[str, float], ...]:
    """`METRIC=VALUE` strings as (metric, value); raises ConfigError naming the bad one."""
    parsed = []
    for limit in limits:
        name, sep, raw = limit.partition("=")
        name = name.strip()
        if not sep:
            raise ConfigError(f"{flag} {limit!r} is not METRIC=VALUE; write e.g. {flag} hit@5=0.9")
        if name not in METRIC_NAMES:
            raise ConfigError(f"{flag} {limit!r}: unknown metric {name!r}; use one of: {', '.join(METRIC_NAMES)} "
                              "(docs/EVAL.md#metrics defines each)")
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{flag} {limit!r}: {raw.strip()!r} is not a number; give a value such as 0.9") from None
        parsed.append((name, value))
    return tuple(parsed)


def check_floors(metrics: Sequence[Metric], floors: Sequence[str], ceilings: Sequence[str] = ()) -> list[str]:
    """One message per metric below its floor (`--min M=V`) or above its ceiling (`--max M=V`); empty when all pass."""
    by_name = {m.name: m for m in metrics}
    failures = []
    for flag, limits in (("--min", floors), ("--max", ceilings)):
        for name, limit in parse_limits(limits, flag):
            value = by_name[name].value
            if value is None:
                failures.append(f"{name} has no value (no question it applies to), so {flag} {name}={limit:g} "
                                "cannot be met")
            elif flag == "--min" and value < limit:
                failures.append(f"{name} = {value:.3f} is below its floor {limit:g}")
            elif flag == "--max" and value > limit:
                failures.append(f"{name} = {value:.3f} is above its ceiling {limit:g}")
    return failures
