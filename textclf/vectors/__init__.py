"""Pretrained word vectors: find, sniff, load with gensim and align them to a vocabulary (see docs/vectors.md).

:mod:`textclf.vectors.files` finds, sniffs and loads vectors files; :mod:`textclf.vectors.matrix` aligns them to
a vocabulary (cached). Training vectors on your own text is :mod:`textclf.vectors_training`, a layer above the data
modules (it reads corpora), which this package, below them, never imports.
"""

from textclf.vectors.files import (
    GENSIM_DATA_VECTORS,
    VECTORS_FORMATS,
    VectorsFormat,
    detect_vectors_format,
    load_keyed_vectors,
    resolve_vectors,
)
from textclf.vectors.matrix import Coverage, build_embedding_matrix, vectors_vocabulary

__all__ = [
    "GENSIM_DATA_VECTORS",
    "VECTORS_FORMATS",
    "Coverage",
    "VectorsFormat",
    "build_embedding_matrix",
    "detect_vectors_format",
    "load_keyed_vectors",
    "resolve_vectors",
    "vectors_vocabulary",
]
