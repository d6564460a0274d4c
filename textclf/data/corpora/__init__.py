"""One small data module per public corpus (see docs/corpora.md for sources, sizes and licences)."""

from textclf.data.corpora import dialog, documents, sentences
from textclf.data.corpora.dialog import *  # noqa: F403
from textclf.data.corpora.documents import *  # noqa: F403
from textclf.data.corpora.sentences import *  # noqa: F403

__all__ = [*sentences.__all__, *documents.__all__, *dialog.__all__]
