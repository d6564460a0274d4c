"""Dialog-act corpora of Lee & Dernoncourt (2016): MRDA and SwDA, with conversation ids and utterance order."""

from __future__ import annotations

__all__: list[str] = []
