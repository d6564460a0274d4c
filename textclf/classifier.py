"""What the checkpoint format, fine-tuning and the inference loop need of a classifier (a typing Protocol).

:class:`~textclf.model.TextClassifier` satisfies it; the modules below the model depend on this interface instead
of importing the model, so no module imports one that imports it back.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor, nn

from textclf.embedding import EmbeddingMode, WordEmbedding
from textclf.encoders import Encoder
from textclf.tasks import Task
from textclf.tokenize import Tokenizer
from textclf.vocab import Vocabulary


class Classifier(Protocol):
    """A trained text classifier: backbone (``embedding``, ``encoder``) + ``head`` + ``task``, and its vocabulary."""

    vocab: Vocabulary
    labels: list[str]
    tokenizer: Tokenizer
    task: Task
    embedding: WordEmbedding
    encoder: Encoder
    head: nn.Module
    embedding_dim: int
    embedding_mode: EmbeddingMode
    embedding_dropout: nn.Dropout
    dropout: nn.Dropout
    has_pretrained: bool
    training: bool

    @property
    def device(self) -> torch.device:
        """Where the parameters are."""

    def __call__(self, token_ids: Tensor, lengths: Tensor, segments: Tensor | None = None) -> Tensor:
        """token_ids (batch, seq), lengths (batch,), segments (batch,) (context heads) -> logits (batch, num_labels)."""

    def to(self, device: torch.device) -> Any:
        """Move the parameters."""

    def eval(self) -> Any:
        """Evaluation mode."""

    def train(self, mode: bool = True) -> Any:
        """Training mode (or not)."""

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> Any:
        """Load weights."""
