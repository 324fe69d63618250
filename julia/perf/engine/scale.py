"""How each warm query's cost grows with the doctors: the log-log slope of its p50 (as a ratio to the floor,
so runs minutes apart compare) and of its buffers, over runs at 1k, 10k, 100k, 1M doctors.

Slope 0 is flat (an index lookup: the b-tree gets one level deeper per ~300x), 1 is linear (a scan, or a
count over everything). A benchmark whose budget has `max_slope` fails above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import ScalarFormatter

from julia.perf.engine.gate import Budgets, ratios
from julia.perf.engine.results import Run, scale_of


@dataclass(frozen=True)
class Slope:
    bench: str
    axis: str  # what the scale counts (the runs' project said it: julia's doctors)
    sizes: list[int]
    ratio_p50: list[float]
    buffers: list[int | None]
    time_slope: float
    buffer_slope: float | None
    max_slope: float | None

    @property
    def failed(self) -> bool:
        return self.max_slope is not None and self.time_slope > self.max_slope


def _fit(x: list[int], y: list[float]) -> float:
    return float(np.polyfit(np.log10(x), np.log10(y), 1)[0])


def fit(runs: list[Run], budgets: Budgets) -> list[Slope]:
    axis = scale_of(runs[0].stamp)[0] if runs else "scale"
    runs = sorted(runs, key=lambda r: int(r.stamp[axis]))
    if len({r.stamp[axis] for r in runs}) < 2:
        raise ValueError("a slope needs runs at two scales at least")
    names = [n for n in runs[0].benches if n.endswith("_warm") and all(n in r.benches for r in runs)]
    slopes: list[Slope] = []
    for name in names:
        sizes = [int(r.stamp[axis]) for r in runs]
        medians = [float(np.median(ratios(r, r.benches[name]) or [np.nan])) for r in runs]
        buffers = [r.benches[name].counters.get("buffers") for r in runs]
        known = [(d, b) for d, b in zip(sizes, buffers, strict=True) if b]
        budget = budgets.benches.get(name)
        slopes.append(
            Slope(
                name,
                axis,
                sizes,
                medians,
                buffers,
                _fit(sizes, medians),
                _fit([d for d, _ in known], [float(b) for _, b in known]) if len(known) >= 2 else None,
                budget.max_slope if budget else None,
            )
        )
    return slopes


def table(slopes: list[Slope]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "benchmark": s.bench,
                **{f"x floor @{d:,}": r for d, r in zip(s.sizes, s.ratio_p50, strict=True)},
                "time slope": s.time_slope,
                "buffer slope": s.buffer_slope,
                "max slope": s.max_slope,
                "status": "FAIL" if s.failed else "ok",
            }
            for s in slopes
        ]
    )


def chart(slopes: list[Slope], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(11, 6))
    for s in slopes:
        ax.plot(
            s.sizes,
            s.ratio_p50,
            marker="o",
            label=f"{s.bench.removeprefix('query_')} ({s.time_slope:+.2f})",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    axis = slopes[0].axis if slopes else "scale"
    ax.set_xlabel(f"{axis} (log)")
    ax.set_ylabel("warm median ratio to the floor (x, log)")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.set_title(f"Scale: cost against the {axis} (log-log slope in brackets; 0 is flat)")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
