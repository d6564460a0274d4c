"""One small data module per public corpus (see docs/corpora.md for sources, sizes and licences)."""

from textclf.data.corpora.sentences import TREC

__all__ = ["TREC"]
