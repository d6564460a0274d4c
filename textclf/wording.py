"""Counts in words, for log lines and errors: ``counted(1, "text")`` is "1 text", ``counted(2, "text")`` "2 texts"."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` followed by ``noun``, or by its plural (``noun + "s"`` unless given) when ``count`` is not 1.

    Thousands are separated with commas (``counted(12500, "word")`` is "12,500 words").
    """
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
