"""Pretrained word vectors: find, sniff, load with gensim and align them to a vocabulary (see docs/vectors.md).

:mod:`textclf.vectors.files` finds, sniffs and loads vectors files; :mod:`textclf.vectors.matrix` aligns them to
a vocabulary (cached); :mod:`textclf.vectors.train` trains vectors on your own text (``train_vectors``, imported on
first use: it is the only part that imports gensim to train).
"""

from typing import TYPE_CHECKING, Any

from textclf.vectors.files import (
    GENSIM_DATA_VECTORS,
    VECTORS_FORMATS,
    VectorsFormat,
    detect_vectors_format,
    load_keyed_vectors,
    resolve_vectors,
)
from textclf.vectors.matrix import Coverage, build_embedding_matrix, vectors_vocabulary

if TYPE_CHECKING:
    from textclf.vectors.train import TrainedVectors, VectorsSettings, train_vectors

__all__ = [
    "GENSIM_DATA_VECTORS",
    "VECTORS_FORMATS",
    "Coverage",
    "TrainedVectors",
    "VectorsFormat",
    "VectorsSettings",
    "build_embedding_matrix",
    "detect_vectors_format",
    "load_keyed_vectors",
    "resolve_vectors",
    "train_vectors",
    "vectors_vocabulary",
]

_TRAIN = ("TrainedVectors", "VectorsSettings", "train_vectors")


def __getattr__(name: str) -> Any:
    """``train_vectors``, ``TrainedVectors`` and ``VectorsSettings``, from :mod:`textclf.vectors.train` on first use."""
    if name in _TRAIN:
        import textclf.vectors.train

        return getattr(textclf.vectors.train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
