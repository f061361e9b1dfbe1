"""Counted nouns said right (1 layer, 2 layers) wherever the designer writes them, window and command line."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless the count is one: ``many`` when English needs more
    than an s (``plural(2, "class", "classes")``). Thousands are separated: 93,322 parameters."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"
