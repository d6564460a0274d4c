"""textclf: text classification with static word vectors and LSTM/GRU encoders on PyTorch Lightning.

The names in ``__all__`` are the public API; they also work as short ``class_path`` values in recipes.
"""

from textclf.data import FileDataModule, TextDataModule, corpora
from textclf.data.corpora import *  # noqa: F403
from textclf.data.public import PublicCorpus
from textclf.embedding import WordEmbedding
from textclf.encoders import BagOfEmbeddingsEncoder, Encoder, RNNEncoder
from textclf.errors import TextclfError
from textclf.model import TextClassifier
from textclf.tokenize import Tokenizer
from textclf.vocab import Vocabulary

__version__ = "0.2.0"

__all__ = [
    "BagOfEmbeddingsEncoder",
    "Encoder",
    "FileDataModule",
    "PublicCorpus",
    "RNNEncoder",
    "TextClassifier",
    "TextDataModule",
    "TextclfError",
    "Tokenizer",
    "Vocabulary",
    "WordEmbedding",
    "__version__",
    *corpora.__all__,
]
