"""What the figures share: colours, when to switch to WebGL, the FLOPs label, confidences in words, and the
one escape of user strings for Plotly.

Plotly reads tags in titles, legend names and hover text, so every user string (a run's name, an
architecture's name, an error message) goes through ``text()`` before a figure shows it.
"""

from __future__ import annotations

import html
from typing import Any

FLOPS_LABEL = "GFLOPs (multiply-adds, fvcore)"
ACTIVATIONS_LABEL = "activations (M, conv and classifier outputs)"
# Above this many points a view uses WebGL traces, which stay responsive where SVG would not.
WEBGL_POINTS = 2000
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def text(value: Any) -> str:
    """A user string for Plotly's text (titles, legends, hover): HTML-escaped, as Plotly reads tags in it."""
    return html.escape(str(value))


def percent(confidence: float) -> str:
    """A confidence in words as the command line writes it: ``95%``, ``97.5%``."""
    return f"{100 * confidence:.10g}%"


def color(k: int) -> str:
    """The ``k``-th trace colour, cycling."""
    return COLORS[k % len(COLORS)]


def scatter_class(points: int) -> Any:
    """``go.Scattergl`` above ``WEBGL_POINTS`` points, else ``go.Scatter``."""
    import plotly.graph_objects as go

    return go.Scattergl if points > WEBGL_POINTS else go.Scatter
