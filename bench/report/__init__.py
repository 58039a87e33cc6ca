"""Render the benchmark results as the markdown of docs/benchmarks.md (also printed).

Every figure is printed as numbers: median [min–max] over the repetitions, and ratios against
the peers where both sides are measured and non-zero. Issue 7's targets (and issue 11's, for the
routed mode of figure 11) are listed with the measured number beside each; nothing here decides
a pass or a failure of the run.

One file per figure group: cells.py (table cells, statistics per figure), layer2.py (figures
1-3, 7-10, second failovers), overhead.py (4-6), routed.py (11), nothing_failed.py (12),
summary.py (at a glance, targets, notes), method.py (how each figure is measured) and
document.py, which puts them together.
"""

from bench.report.document import render, render_figures

__all__ = ["render", "render_figures"]
