"""Data modules: the shared base and custom corpora from files (each imported on first use)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textclf.data.base import TextDataModule
    from textclf.data.files import FileDataModule

__all__ = ["FileDataModule", "TextDataModule"]

_HOMES = {"FileDataModule": "textclf.data.files", "TextDataModule": "textclf.data.base"}


def __getattr__(name: str) -> Any:
    """``FileDataModule`` and ``TextDataModule``, imported when first used (so the readers need no Lightning)."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
