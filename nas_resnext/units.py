"""How numbers are shown: durations, counts with a unit suffix, GFLOPs."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """``42s``, ``3m07s``, ``2h05m``."""
    seconds = round(float(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def human_count(value: float) -> str:
    """``25028904 -> '25.03M'``, ``4259381248 -> '4.26G'``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.0f}"


def gflops_text(flops: float) -> str:
    """GFLOPs to four significant digits without an exponent (tiny models are common here)."""
    import numpy as np

    return np.format_float_positional(flops / 1e9, precision=4, unique=False, fractional=False, trim="-")
