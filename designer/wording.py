"""Counted nouns said right (1 layer, 2 layers) wherever the designer writes them, window and command line."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless the count is one: ``many`` when English needs more
    than an s (``plural(2, "class", "classes")``). Thousands are separated: 93,322 parameters."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def size_text(n: float) -> str:
    """Bytes in binary units, as memory is reported: 102,546,848 → '97.80 MB'."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return ""


def macs_text(n: int) -> str:
    """Multiply-accumulates in decimal units, as published figures give them: 3,857,973,248 → '3.86 GMACs'."""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.3g} {prefix}MACs"
    return f"{n} MACs"


# what the canvas's cost overlay can show: the fields of keras_bridge.cost.Cost, by the names the View menu uses
COST_MEASURES = {"macs": "compute (MACs)", "param_bytes": "parameter memory", "activation_bytes": "activation memory"}
