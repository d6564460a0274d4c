"""Word embeddings in the four modes of Kim (2014): static, non-static, multichannel and random."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from textclf.errors import TextclfError

EmbeddingMode = Literal["static", "non-static", "multichannel", "random"]

FROZEN_DTYPE = torch.float16
"""How never-trained rows are kept (in memory, checkpoints and exports) when every value fits it; else float32."""


class WordEmbedding(nn.Module):
    """Token ids -> vectors.

    ``static`` keeps the pretrained vectors frozen; ``non-static`` fine-tunes them; ``multichannel`` keeps a
    frozen and a fine-tuned copy and concatenates them (Kim 2014 adds the two channels inside the CNN; for an
    RNN, concatenation gives the encoder both views); ``random`` starts from U(-0.25, 0.25) and trains.
    The ``<pad>`` row (index 0) is zero and receives no gradient in every mode. Rows from ``trained_rows`` on
    (words added from a vectors file, never seen in training) stay frozen in every mode: training could not
    change them anyway, and leaving them out of the trainable table keeps the optimizer's work proportional to
    the training vocabulary.

    Storage: the trainable rows are the float32 parameter ``tuned.weight`` (``(trained_rows, dim)``; absent in
    ``static`` mode). Every frozen row is stored once, in the buffer ``frozen``: all ``num_embeddings`` rows in
    ``static`` and ``multichannel`` mode (the fine-tuned channel reads its untrained rows from it too), the rows
    from ``trained_rows`` on in the other modes. In ``non-static`` and ``random`` mode (rows no training text
    reads) ``frozen`` is float16 (:data:`FROZEN_DTYPE`) when every value fits it; in ``static`` and
    ``multichannel`` mode, where it is every word's input, it stays float32, because rounding it moved the
    probabilities by more than 1e-4 (docs/benchmarks.md, "artefact-sizes"). Float16 rows are rounded once, when
    the model is built, so training, checkpoints, loading and exports all see the same numbers and storing them as
    float16 loses nothing. Looked-up rows are cast to the model's
    floating-point type (float32 unless the model was converted). Weights loaded into the module keep the
    floating-point type of the file (older checkpoints: float32), so they predict exactly as they did.

    Args:
        num_embeddings: vocabulary size.
        embedding_dim: vector size.
        mode: one of static, non-static, multichannel, random.
        pretrained: ``(num_embeddings, embedding_dim)`` initial vectors; required in spirit for the pretrained
            modes, but may be None when the weights come from a checkpoint.
        trained_rows: rows below this index are trainable (in the modes that train); default: all.

    Raises:
        ValueError: ``pretrained`` is not ``(num_embeddings, embedding_dim)``.
    """

    frozen: Tensor
    _dtype_probe: Tensor

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
        self.embedding_dim = embedding_dim
        self.trained_rows = num_embeddings if trained_rows is None else trained_rows
        if pretrained is None or mode == "random":
            weight = torch.empty(num_embeddings, embedding_dim).uniform_(-0.25, 0.25)
        else:
            weight = torch.as_tensor(pretrained, dtype=torch.float32)
            if weight.shape != (num_embeddings, embedding_dim):
                raise ValueError(f"pretrained shape {tuple(weight.shape)} != ({num_embeddings}, {embedding_dim})")
        self.tuned: nn.Embedding | None = None
        self.frozen_channel = mode in ("static", "multichannel")
        self.frozen_start = 0 if self.frozen_channel else self.trained_rows  # index of frozen's first row
        frozen = weight[self.frozen_start :]
        # float16 only for rows training never reads (measured: probabilities move < 1e-4); the frozen channel of
        # static/multichannel is every word's input, and rounding it moved them by ~2e-4 (docs/benchmarks.md)
        half = not self.frozen_channel and (pretrained is None or mode == "random" or fits(frozen, FROZEN_DTYPE))
        dtype = FROZEN_DTYPE if half else torch.float32
        self.register_buffer("frozen", frozen.to(dtype, copy=True))  # (rows, dim), rounded once, here
        if self.frozen_start == 0 and len(self.frozen):
            self.frozen[0] = 0.0  # <pad>
        self.register_buffer("_dtype_probe", torch.zeros(0), persistent=False)  # follows model.to(dtype)
        if mode != "static":
            tuned = weight[: self.trained_rows].clone()
            tuned[:1] = 0.0  # <pad>
            self.tuned = nn.Embedding.from_pretrained(tuned, freeze=False, padding_idx=0)

    @property
    def output_size(self) -> int:
        """Size of the vectors fed to the encoder (doubled in multichannel mode)."""
        return self.embedding_dim * ((self.tuned is not None) + self.frozen_channel)

    def forward(self, token_ids: Tensor) -> Tensor:
        """Embed ``token_ids`` (batch, seq) -> (batch, seq, output_size)."""
        dtype = self._dtype_probe.dtype
        if self.tuned is None:
            return nn.functional.embedding(token_ids, self.frozen).to(dtype)
        if len(self.frozen) == 0:  # every row trains
            return self.tuned(token_ids)
        frozen_ids = (token_ids - self.frozen_start).clamp(min=0)  # (batch, seq)
        frozen = nn.functional.embedding(frozen_ids, self.frozen).to(dtype)  # gathered, then cast
        is_untrained = token_ids >= self.trained_rows  # (batch, seq)
        trained = self.tuned(token_ids.masked_fill(is_untrained, 0))
        tuned = torch.where(is_untrained.unsqueeze(-1), frozen, trained)
        return torch.cat([tuned, frozen], dim=-1) if self.frozen_channel else tuned

    def full_table(self, channel: Literal["tuned", "frozen"]) -> Tensor:
        """A float32 copy of one channel's ``(num_embeddings, dim)`` table (see :func:`channel_tables`).

        Raises:
            KeyError: the module has no such channel (``tuned`` in ``static`` mode, ``frozen`` in the one-channel
                modes that train).
        """
        return channel_tables(self.state_dict(keep_vars=False), self.mode, self.trained_rows, "")[channel]

    def set_full_table(self, channel: Literal["tuned", "frozen"], table: Tensor) -> None:
        """Copy a ``(num_embeddings, dim)`` table into one channel (the frozen rows of ``tuned`` are ``frozen``'s)."""
        with torch.no_grad():
            if channel == "frozen" or self.tuned is None:
                self.frozen.copy_(table[self.frozen_start :])
                return
            self.tuned.weight.copy_(table[: self.trained_rows])
            if not self.frozen_channel:
                self.frozen.copy_(table[self.trained_rows :])

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        """Keep the floating-point type of loaded frozen rows (float16 now, float32 in older checkpoints)."""
        value = state_dict.get(prefix + "frozen")
        if isinstance(value, Tensor) and value.dtype in LOADABLE_DTYPES and value.dtype != self.frozen.dtype:
            self.frozen = torch.empty_like(self.frozen, dtype=value.dtype)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


LOADABLE_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def fits(table: Tensor, dtype: torch.dtype) -> bool:
    """Whether every value of ``table`` is finite in ``dtype`` (always true of a table on the meta device)."""
    return table.is_meta or bool(table.abs().le(torch.finfo(dtype).max).all())


def channel_tables(
    state: dict[str, Tensor], mode: EmbeddingMode, trained_rows: int, prefix: str = "embedding."
) -> dict[str, Tensor]:
    """Each channel's full ``(num_embeddings, dim)`` float32 table from a :class:`WordEmbedding`'s saved weights.

    ``tuned``: the trained rows, then the frozen ones (absent in ``static`` mode); ``frozen``: the frozen channel
    (``static`` and ``multichannel`` modes only). Read from ``state`` (a state dict, names under ``prefix``).
    """
    frozen = state[prefix + "frozen"].float()
    tables = {}
    if prefix + "tuned.weight" in state:
        start = 0 if mode in ("static", "multichannel") else trained_rows  # the row index of frozen's first row
        tables["tuned"] = torch.cat([state[prefix + "tuned.weight"].float(), frozen[trained_rows - start :]])
    if mode in ("static", "multichannel"):
        tables["frozen"] = frozen.clone()
    return tables


def upgrade_format_1(state: dict[str, Tensor], prefix: str = "embedding.") -> dict[str, Tensor]:
    """The weights of a format-1 checkpoint (textclf before compact checkpoints) in today's layout.

    Format 1 kept the untrained rows in ``untrained`` and, in static and multichannel mode, the whole frozen table
    again in ``frozen.weight``: that table (whose untrained rows equal ``untrained``) becomes ``frozen``, else
    ``untrained`` does. Values and their float32 type are kept, so the model predicts as before.
    """
    if prefix + "untrained" not in state:
        return state
    upgraded = dict(state)
    untrained = upgraded.pop(prefix + "untrained")
    table = upgraded.pop(prefix + "frozen.weight", None)
    upgraded[prefix + "frozen"] = untrained if table is None else table
    return upgraded


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
