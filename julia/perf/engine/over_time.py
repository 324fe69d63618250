"""A load run over time, one PNG (matplotlib, Agg): the panels a benchmark recorded under its counters'
`over_time` key, each a y label and named lines of (x, y) points, sharing one x axis. The engine draws what
the run recorded and names nothing of it: the capacity storm's are arrivals and replies per second,
messages open and Claude calls in flight, CPU and memory of each process (julia.testing.capacity.benches).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or a server

import matplotlib.pyplot as plt

DPI = 100
PANEL_HEIGHT = 2.5  # inches: four panels fill a page's height without scrolling past one run


def draw(recorded: dict[str, Any], path: Path) -> Path | None:
    """The panels of `recorded` (a benchmark's `over_time`) into `path`; None when no panel has a line."""
    panels = [p for p in recorded.get("panels", []) if any(len(xy[0]) for xy in p["lines"].values())]
    if not panels:
        return None
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, PANEL_HEIGHT * len(panels)), sharex=True)
    for ax, panel in zip([axes] if len(panels) == 1 else axes, panels, strict=True):
        for label, (x, y) in panel["lines"].items():
            ax.plot(x, y, label=label, drawstyle="steps-post" if panel.get("steps") else "default")
        ax.set_ylabel(panel["y_label"])
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        ax.grid(alpha=0.3)
    (axes if len(panels) == 1 else axes[-1]).set_xlabel(recorded.get("x_label", ""))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
