"""Word embeddings in the four modes of Kim (2014): static, non-static, multichannel and random."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from textclf.errors import TextclfError

EmbeddingMode = Literal["static", "non-static", "multichannel", "random"]


class WordEmbedding(nn.Module):
    """Token ids -> vectors.

    ``static`` keeps the pretrained vectors frozen; ``non-static`` fine-tunes them; ``multichannel`` keeps a
    frozen and a fine-tuned copy and concatenates them (Kim 2014 adds the two channels inside the CNN; for an
    RNN, concatenation gives the encoder both views); ``random`` starts from U(-0.25, 0.25) and trains.
    The ``<pad>`` row (index 0) is zero and receives no gradient in every mode. Rows from ``trained_rows`` on
    (words added from the vectors file, never seen in training) stay frozen in every mode: training could not
    change them anyway, and leaving them out of the trainable table keeps the optimizer's work proportional to
    the training vocabulary.

    Args:
        num_embeddings: vocabulary size.
        embedding_dim: vector size.
        mode: one of static, non-static, multichannel, random.
        pretrained: ``(num_embeddings, embedding_dim)`` initial vectors; required in spirit for the pretrained
            modes, but may be None when the weights come from a checkpoint.
        trained_rows: rows below this index are trainable (in the modes that train); default: all.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        mode: EmbeddingMode = "non-static",
        pretrained: Tensor | None = None,
        trained_rows: int | None = None,
    ) -> None:
        super().__init__()
        self.mode = mode
        self.trained_rows = num_embeddings if trained_rows is None else trained_rows
        if pretrained is None or mode == "random":
            weight = torch.empty(num_embeddings, embedding_dim).uniform_(-0.25, 0.25)
        else:
            weight = torch.as_tensor(pretrained, dtype=torch.float32).clone()
            if weight.shape != (num_embeddings, embedding_dim):
                raise ValueError(f"pretrained shape {tuple(weight.shape)} != ({num_embeddings}, {embedding_dim})")
        weight[0] = 0.0
        self.tuned: nn.Embedding | None = None
        self.frozen: nn.Embedding | None = None
        trains = mode in ("non-static", "random", "multichannel")
        untrained = weight[self.trained_rows :] if trains else weight[:0]
        self.untrained: Tensor
        self.register_buffer("untrained", untrained.clone())  # (rows never trained, dim)
        if trains:
            self.tuned = nn.Embedding.from_pretrained(weight[: self.trained_rows].clone(), freeze=False, padding_idx=0)
        if mode in ("static", "multichannel"):
            self.frozen = nn.Embedding.from_pretrained(weight.clone(), freeze=True, padding_idx=0)

    @property
    def output_size(self) -> int:
        """Size of the vectors fed to the encoder (doubled in multichannel mode)."""
        layers = [layer for layer in (self.tuned, self.frozen) if layer is not None]
        return sum(layer.embedding_dim for layer in layers)

    def forward(self, token_ids: Tensor) -> Tensor:
        """Embed ``token_ids`` (batch, seq) -> (batch, seq, output_size)."""
        channels = []
        if self.tuned is not None:
            channels.append(self._tuned_lookup(token_ids))
        if self.frozen is not None:
            channels.append(self.frozen(token_ids))
        return channels[0] if len(channels) == 1 else torch.cat(channels, dim=-1)

    def _tuned_lookup(self, token_ids: Tensor) -> Tensor:
        """Trainable rows from ``tuned``, the rest from the frozen ``untrained`` rows (batch, seq, dim)."""
        assert self.tuned is not None
        if self.untrained.shape[0] == 0:
            return self.tuned(token_ids)
        is_untrained = token_ids >= self.trained_rows  # (batch, seq)
        trained = self.tuned(token_ids.masked_fill(is_untrained, 0))
        untrained = nn.functional.embedding((token_ids - self.trained_rows).clamp(min=0), self.untrained)
        return torch.where(is_untrained.unsqueeze(-1), untrained, trained)


def embedding_size(embedding_dim: int | None, pretrained: Tensor | None) -> int:
    """The vector size: ``pretrained``'s (``(vocab_size, dim)``) when given, else ``embedding_dim``.

    Raises:
        TextclfError: neither is given, or both with different sizes.
    """
    if pretrained is None:
        if embedding_dim is None:
            raise TextclfError("set model.embedding_dim (there are no pretrained vectors to take it from)")
        return embedding_dim
    dim = int(pretrained.shape[1])
    if embedding_dim is not None and embedding_dim != dim:
        raise TextclfError(f"model.embedding_dim is {embedding_dim} but the pretrained vectors have dimension {dim}")
    return dim
