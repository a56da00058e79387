"""The result table (and its JSON form): one row per figure, with the issue's target beside it.

Targets are printed, never asserted: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

__all__ = ["ROW_NAMES", "Report", "Row", "ordered", "render_json", "render_table"]

ROW_NAMES = (
    "pgbench TPC-B",
    "earn (uniform)",
    "hot member",
    "offline upload",
    "mixed @ half peak",
    "memory at peak",
    "memory with streams",
)
"""Every row a run prints, in order, whether it measured something or says why not."""


@dataclass(frozen=True, kw_only=True)
class Row:
    name: str
    value: float | None = None
    """The headline figure; None when the scenario could not run (see `note`)."""
    unit: str = ""
    p50_ms: float | None = None
    p99_ms: float | None = None
    ratio: float | None = None
    ratio_to: str = ""
    """What `ratio` is relative to ("pgbench", "uniform")."""
    target: str = ""
    note: str = ""


@dataclass(kw_only=True)
class Report:
    cores: int
    settings: dict[str, object]
    rows: list[Row] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    machine: str = field(
        default_factory=lambda: f"{platform.machine()} {platform.system()} {platform.release()}"
    )
    python: str = field(default_factory=platform.python_version)


def _number(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _cells(row: Row) -> list[str]:
    figure = "n/a" if row.value is None else f"{_number(row.value)} {row.unit}".strip()
    latency = "-" if row.p50_ms is None else f"{_number(row.p50_ms)} / {_number(row.p99_ms)}"
    ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x {row.ratio_to}".strip()
    return [row.name, figure, latency, ratio, row.target, row.note]


def render_table(report: Report) -> str:
    """A fixed-width text table, preceded by the machine and the settings it was measured with."""
    header = ["scenario", "result", "p50 / p99 ms", "ratio", "target", "note"]
    lines = [[*header], *(_cells(row) for row in report.rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    settings = ", ".join(f"{key}={value}" for key, value in report.settings.items())
    out = [
        f"loyalty-service bench  {report.started_at}  cores={report.cores}  {report.machine}  "
        f"python {report.python}",
        f"settings: {settings}",
        "",
    ]
    for index, line in enumerate(lines):
        cells = [cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)]
        out.append("  ".join([*cells, line[-1]]).rstrip())
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def _finite(value: object) -> object:
    return None if isinstance(value, float) and math.isnan(value) else value


def render_json(report: Report) -> str:
    """The same data as one JSON object; NaN becomes null so any parser reads it."""
    document = asdict(report)
    document["rows"] = [{key: _finite(value) for key, value in row.items()} for row in document["rows"]]
    return json.dumps(document, indent=2, sort_keys=False)


def ordered(rows: Sequence[Row]) -> list[Row]:
    """Rows in ROW_NAMES order, with a placeholder row (value n/a) for any that is missing."""
    by_name = {row.name: row for row in rows}
    return [by_name.get(name, Row(name=name, note="not run")) for name in ROW_NAMES]
