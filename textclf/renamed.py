"""Renamed arguments: the old spelling still works for a while, with a deprecation warning."""

from __future__ import annotations

import warnings
from typing import Any

from textclf.errors import TextclfError


def renamed(old: str, old_value: Any, value: Any, default: Any) -> Any:
    """The value of a renamed model argument (``body`` -> ``backbone``): the new one, or the old one with a warning.

    Raises:
        TextclfError: both spellings are given, with different values.
    """
    if old_value is None:
        return value
    new = old.replace("body", "backbone")
    if value != default and value != old_value:
        raise TextclfError(f"model.{old} ({old_value}) and model.{new} ({value}) are the same setting: keep {new}")
    message = f"model.{old} is deprecated and will be removed in textclf 0.3: use model.{new}"
    warnings.warn(message, FutureWarning, stacklevel=3)
    return old_value
