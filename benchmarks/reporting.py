"""What every benchmark reports with: medians and spreads, ratios, Markdown tables, files.

Pure functions, so the smoke tests can check them without a VM or a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from statistics import median
from typing import Any

from schedcp.api.v1alpha1.revision import Better
from schedcp.verifying.performance import beats

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Summary:
    """Median and spread (min–max) of the repeats of one measure."""

    median: float
    low: float
    high: float
    count: int

    def cell(self, digits: int = 0) -> str:
        if self.count == 1:
            return f"{self.median:,.{digits}f}"
        return f"{self.median:,.{digits}f} ({self.low:,.{digits}f}–{self.high:,.{digits}f})"


class Difference(StrEnum):
    """How a candidate's rounds compare with a baseline's, the spread taken into account."""

    BETTER = "better"
    WORSE = "worse"
    WITHIN_SPREAD = "within the spread"


def difference(candidate: Summary | None, baseline: Summary | None, lower_is_better: bool) -> Difference | None:
    """Better or worse only by the verifier's gate rule (`performance.beats`): the two ranges
    (min–max over the rounds) do not overlap, as a gap smaller than the rounds' own scatter
    is not evidence of anything."""
    if candidate is None or baseline is None:
        return None
    better = Better.LOWER if lower_is_better else Better.HIGHER
    ranges = [candidate.low, candidate.high], [baseline.low, baseline.high]
    if beats(*ranges, better):
        return Difference.BETTER
    if beats(*reversed(ranges), better):
        return Difference.WORSE
    return Difference.WITHIN_SPREAD


def summarize(values: Sequence[float | None]) -> Summary | None:
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return Summary(median=median(present), low=min(present), high=max(present), count=len(present))


def ratio(candidate: Summary | None, baseline: Summary | None) -> float | None:
    """The candidate's median over the baseline's; None when either is missing or the baseline is 0."""
    if candidate is None or baseline is None or baseline.median == 0:
        return None
    return candidate.median / baseline.median


def gain(value: float | None, lower_is_better: bool) -> float | None:
    """A ratio turned into 'times better' (> 1 is better), whichever way the measure points."""
    if value is None or value == 0:
        return None
    return 1 / value if lower_is_better else value


def format_ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured table; cells are str()'d, pipes escaped, None shown as '–'."""
    def text(cell: Any) -> str:
        return "–" if cell is None else str(cell).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(text(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(text(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def parse_workload_output(text: str) -> dict[str, Any] | None:
    """The one JSON line a workload program prints (bpf/workloads/*.c); None if it printed none."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None


def write_result(name: str, text: str, directory: Path = RESULTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text if text.endswith("\n") else text + "\n")
    return path
