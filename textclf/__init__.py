"""textclf: text classification with static word vectors and LSTM/GRU encoders on PyTorch Lightning.

The names in ``__all__`` are the public API; they also work as short ``class_path`` values in recipes
(``textclf.TREC``). Each is imported on first use, so ``import textclf.cli`` (and ``textclf --help``) does not
import torch, Lightning or the data modules.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textclf.context import Context, FeedForwardContext, NoContext, RNNContext
    from textclf.data import FileDataModule, TextDataModule, corpora
    from textclf.data.corpora import (
        CR,
        IMDB,
        MPQA,
        MR,
        MRDA,
        SST2,
        SST5,
        TREC,
        AGNews,
        AmazonFull,
        AmazonPolarity,
        DBpedia14,
        GlueSST2,
        Subj,
        SwDA,
        TwentyNewsgroups,
        YahooAnswers,
        YelpFull,
        YelpPolarity,
    )
    from textclf.data.public import PublicCorpus
    from textclf.embedding import WordEmbedding
    from textclf.encoders import BagOfEmbeddingsEncoder, Encoder, RNNEncoder
    from textclf.errors import TextclfError
    from textclf.model import TextClassifier
    from textclf.sequence_inference import OnlinePredictor
    from textclf.tokenize import Tokenizer
    from textclf.vocab import Vocabulary

__version__ = "0.2.0"

_HOMES = {
    "BagOfEmbeddingsEncoder": "textclf.encoders",
    "Context": "textclf.context",
    "FeedForwardContext": "textclf.context",
    "NoContext": "textclf.context",
    "OnlinePredictor": "textclf.sequence_inference",
    "RNNContext": "textclf.context",
    "Encoder": "textclf.encoders",
    "FileDataModule": "textclf.data.files",
    "PublicCorpus": "textclf.data.public",
    "RNNEncoder": "textclf.encoders",
    "TextClassifier": "textclf.model",
    "TextDataModule": "textclf.data.base",
    "TextclfError": "textclf.errors",
    "Tokenizer": "textclf.tokenize",
    "Vocabulary": "textclf.vocab",
    "WordEmbedding": "textclf.embedding",
}
__all__ = [
    "CR",
    "IMDB",
    "MPQA",
    "MR",
    "MRDA",
    "SST2",
    "SST5",
    "TREC",
    "AGNews",
    "AmazonFull",
    "AmazonPolarity",
    "BagOfEmbeddingsEncoder",
    "Context",
    "DBpedia14",
    "Encoder",
    "FeedForwardContext",
    "FileDataModule",
    "GlueSST2",
    "NoContext",
    "OnlinePredictor",
    "PublicCorpus",
    "RNNContext",
    "RNNEncoder",
    "Subj",
    "SwDA",
    "TextClassifier",
    "TextDataModule",
    "TextclfError",
    "Tokenizer",
    "TwentyNewsgroups",
    "Vocabulary",
    "WordEmbedding",
    "YahooAnswers",
    "YelpFull",
    "YelpPolarity",
    "__version__",
    "corpora",
]


def __getattr__(name: str) -> Any:
    """Import a public name when it is first used (a corpus data module too, listed in ``__all__`` or not)."""
    if not (name in _HOMES or name == "corpora" or name[:1].isupper()):  # submodules, dunders: the import system's
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in _HOMES:
        value = getattr(import_module(_HOMES[name]), name)
    else:
        corpora_module = import_module("textclf.data.corpora")
        if name == "corpora":
            value = corpora_module
        elif name in corpora_module.__all__:
            value = getattr(corpora_module, name)
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
