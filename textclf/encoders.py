"""Seq2Vec encoders: turn embedded, padded texts (batch, seq, input_size) into one vector per text.

See docs/formulation.md for the equations, the pooling formulas and why there are two RNN implementations.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textclf.errors import TextclfError
from textclf.numbers import DropoutRate, PositiveInt
from textclf.pooling import AttentionPooling, last_pool, lengths_to_mask, max_pool, mean_pool

Cell = Literal["lstm", "gru"]
RNNPooling = Literal["last", "mean", "max", "attention"]
BagPooling = Literal["mean", "max"]
Implementation = Literal["auto", "packed", "padded"]

# cuDNN warns, then compacts them itself, when a direction's weights do not start the module's flat weight buffer.
_CUDNN_WEIGHTS_WARNING = "RNN module weights are not part of single contiguous chunk of memory"


def _check_choice(name: str, value: object, choices: tuple[object, ...]) -> None:
    if value not in choices:
        raise TextclfError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def reverse_within_length(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence within its own length, leaving the padding where it is.

    Position t < length of row b takes the value at lengths[b] - 1 - t; padding positions keep their value. The
    operation is its own inverse.

    Args:
        x: (batch, seq, hidden) padded batch.
        lengths: (batch,) integer lengths, each in [1, seq], on the device of `x`.

    Returns:
        (batch, seq, hidden) batch with every real prefix reversed.
    """
    positions = torch.arange(x.size(1), device=x.device).unsqueeze(0)  # (1, seq)
    last = (lengths - 1).unsqueeze(1)  # (batch, 1)
    index = torch.where(positions <= last, last - positions, positions)  # (batch, seq)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class Encoder(nn.Module):
    """Seq2Vec contract.

    `forward(embedded, lengths)` takes `embedded` (batch, seq, input_size) float and `lengths` (batch,) int64, each
    length >= 1, and returns (batch, output_size). Padding never changes a text's result.

    Encoders are built lazily: `input_size` may be None at construction and is set by the model via
    `build(input_size)`, once the embedding size is known.
    """

    input_size: int | None

    def __init__(self) -> None:
        super().__init__()
        self.input_size = None

    @property
    def output_size(self) -> int:
        """Size of the vector produced for each text."""
        raise NotImplementedError

    def build(self, input_size: int) -> None:
        """Create the input-size dependent parts; a no-op when already built with this size.

        Args:
            input_size: Size of each embedded token vector.

        Raises:
            TextclfError: If `input_size` is not positive or the encoder was built with another size.
        """
        if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
            raise TextclfError(f"input_size must be a positive integer, got {input_size!r}")
        if self.input_size is not None:
            if self.input_size != input_size:
                name = type(self).__name__
                raise TextclfError(f"{name} was built for input_size={self.input_size}, not {input_size}")
            return
        self._build(input_size)
        self.input_size = input_size

    def _build(self, input_size: int) -> None:
        """Subclass hook for build(): create the layers that depend on the input size."""

    def config(self) -> dict[str, Any]:
        """JSON-friendly init arguments (with input_size) such that `type(self)(**config)` rebuilds the encoder."""
        raise NotImplementedError

    def _require_built(self) -> int:
        if self.input_size is None:
            raise TextclfError(f"{type(self).__name__} is not built: call build(input_size) before using it")
        return self.input_size


class RNNEncoder(Encoder):
    """LSTM or GRU over the tokens, states pooled over time (Lee & Dernoncourt 2016; docs/formulation.md).

    The weights live in one standard `nn.LSTM` / `nn.GRU` (`self.rnn`, batch_first, usual state_dict names), shared
    by two implementations of exactly the same function:

    - "packed": pack_padded_sequence -> rnn -> pad_packed_sequence; the recurrence never sees padding.
    - "padded": the recurrence runs over the padded batch. Forward states are causal, hence exact at real tokens;
      a backward direction runs forward over each text reversed within its own length.
    - "auto" (default): "padded", except "packed" for a GRU on CPU. cuDNN on padded input is 2-2.7x faster than on
      packed input (H200). On CPU (benchmarks/rnn_paths.py) the padded LSTM runs a fused oneDNN kernel and was
      1.3-2.9x faster than packed in training; the padded GRU has no such kernel and was 0.8-1.25x the packed time
      in training but 1.2-1.8x in inference, so a GRU stays packed there.

    Pooling "last": forward state at the last real token (+ backward state at position 0, its final state).
    """

    def __init__(
        self,
        input_size: int | None = None,
        *,
        cell: Cell = "lstm",
        hidden_size: PositiveInt = 150,
        num_layers: PositiveInt = 1,
        bidirectional: bool = True,
        dropout: DropoutRate = 0.0,
        pooling: RNNPooling = "max",
        implementation: Implementation = "auto",
    ) -> None:
        """Configure the encoder; the RNN itself is created by build() (or now, when input_size is given).

        Args:
            input_size: Size of the embedded tokens, or None to build later.
            cell: Recurrent cell, "lstm" or "gru".
            hidden_size: Hidden size of each direction.
            num_layers: Number of stacked recurrent layers.
            bidirectional: Whether to add a backward direction (output size doubles).
            dropout: Dropout between stacked layers, as nn.LSTM's (no effect when num_layers == 1).
            pooling: How states are pooled over time: "last", "mean", "max" or "attention".
            implementation: "packed", "padded", or "auto" ("padded", but "packed" for a GRU on CPU).
        """
        super().__init__()
        _check_choice("cell", cell, get_args(Cell))
        _check_choice("pooling", pooling, get_args(RNNPooling))
        _check_choice("implementation", implementation, get_args(Implementation))
        if hidden_size < 1 or num_layers < 1:
            raise TextclfError(f"hidden_size and num_layers must be >= 1, got {hidden_size} and {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise TextclfError(f"dropout must be in [0, 1), got {dropout}")
        self.cell: Cell = cell
        self.hidden_size = int(hidden_size)  # plain numbers, not the parser's PositiveInt: checkpoints are data
        self.num_layers = int(num_layers)
        self.bidirectional = bidirectional
        self.dropout = float(dropout)
        self.pooling: RNNPooling = pooling
        self.implementation: Implementation = implementation
        self.rnn: nn.LSTM | nn.GRU | None = None
        self.attention = AttentionPooling(self.output_size) if pooling == "attention" else None
        if input_size is not None:
            self.build(input_size)

    @property
    def output_size(self) -> int:
        """hidden_size * (2 if bidirectional else 1)."""
        return self.hidden_size * (2 if self.bidirectional else 1)

    def _build(self, input_size: int) -> None:
        rnn_class = nn.LSTM if self.cell == "lstm" else nn.GRU
        self.rnn = rnn_class(
            input_size,
            self.hidden_size,
            num_layers=self.num_layers,
            batch_first=True,
            bidirectional=self.bidirectional,
            dropout=self.dropout if self.num_layers > 1 else 0.0,
        )

    def config(self) -> dict[str, Any]:
        """JSON-friendly init arguments; `RNNEncoder(**config)` rebuilds an encoder with the same parameter names."""
        names = ("input_size", "cell", "hidden_size", "num_layers", "bidirectional", "dropout", "pooling")
        return {name: getattr(self, name) for name in (*names, "implementation")}

    def forward(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        """Encode a padded batch.

        Args:
            embedded: (batch, seq, input_size) float embedded tokens.
            lengths: (batch,) int64 lengths, each in [1, seq].

        Returns:
            (batch, output_size) one vector per text.
        """
        self._require_built()
        device_lengths = lengths.to(embedded.device)  # (batch,)
        if self._uses_packed(embedded):
            states = self._run_packed(embedded, lengths)  # (batch, seq, output_size)
        else:
            states = self._run_padded(embedded, device_lengths)  # (batch, seq, output_size)
        return self._pool(states, device_lengths)

    def _uses_packed(self, embedded: Tensor) -> bool:
        if self.implementation == "auto":
            return self.cell == "gru" and not embedded.is_cuda
        return self.implementation == "packed"

    def _run_packed(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        assert self.rnn is not None
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, _ = self.rnn(packed)
        states, _ = pad_packed_sequence(output, batch_first=True, total_length=embedded.size(1))
        return states  # (batch, seq, output_size), zeros on padding

    def _run_padded(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        assert self.rnn is not None
        if not self.bidirectional:
            # Causal: states at real positions never see the padding that follows them.
            states, _ = self.rnn(embedded)
            return states  # (batch, seq, hidden)
        x = embedded  # (batch, seq, features)
        for layer in range(self.num_layers):
            if layer > 0 and self.training and self.dropout > 0.0:
                x = nn.functional.dropout(x, self.dropout, training=True)
            forward_states = self._run_direction(x, layer, "")  # (batch, seq, hidden)
            backward_states = self._run_direction(reverse_within_length(x, lengths), layer, "_reverse")
            backward_states = reverse_within_length(backward_states, lengths)  # (batch, seq, hidden)
            x = torch.cat([forward_states, backward_states], dim=-1)  # (batch, seq, 2 * hidden)
        return x

    def _run_direction(self, x: Tensor, layer: int, suffix: str) -> Tensor:
        """One direction of one layer as a forward, single-layer, unidirectional RNN over the padded batch."""
        assert self.rnn is not None
        rnn = self.rnn
        params = [getattr(rnn, f"{name}_l{layer}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        h0 = x.new_zeros(1, x.size(0), self.hidden_size)  # (1, batch, hidden)
        with warnings.catch_warnings():
            if x.is_cuda:
                warnings.filterwarnings("ignore", message=_CUDNN_WEIGHTS_WARNING)
            if self.cell == "lstm":
                return torch.lstm(x, (h0, h0), params, True, 1, 0.0, self.training, False, True)[0]
            return torch.gru(x, h0, params, True, 1, 0.0, self.training, False, True)[0]

    def _pool(self, states: Tensor, lengths: Tensor) -> Tensor:
        if self.pooling == "last":
            last = last_pool(states, lengths)  # (batch, output_size)
            if not self.bidirectional:
                return last
            # Forward direction: state at the last real token; backward direction: state at position 0.
            return torch.cat([last[:, : self.hidden_size], states[:, 0, self.hidden_size :]], dim=-1)
        mask = lengths_to_mask(lengths, states.size(1))  # (batch, seq)
        if self.pooling == "mean":
            return mean_pool(states, mask)
        if self.pooling == "max":
            return max_pool(states, mask)
        assert self.attention is not None
        return self.attention(states, mask)


class BagOfEmbeddingsEncoder(Encoder):
    """Fast fastText-like baseline: masked mean (or max) of the embedded tokens; no parameters."""

    def __init__(self, input_size: int | None = None, *, pooling: BagPooling = "mean") -> None:
        """Configure the encoder.

        Args:
            input_size: Size of the embedded tokens, or None to build later.
            pooling: "mean" or "max" over the real tokens.
        """
        super().__init__()
        _check_choice("pooling", pooling, get_args(BagPooling))
        self.pooling: BagPooling = pooling
        if input_size is not None:
            self.build(input_size)

    @property
    def output_size(self) -> int:
        """Same as input_size (the encoder must be built)."""
        return self._require_built()

    def config(self) -> dict[str, Any]:
        """JSON-friendly init arguments; `BagOfEmbeddingsEncoder(**config)` rebuilds the encoder."""
        return {"input_size": self.input_size, "pooling": self.pooling}

    def forward(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        """Pool the embedded tokens.

        Args:
            embedded: (batch, seq, input_size) float embedded tokens.
            lengths: (batch,) int64 lengths, each in [1, seq].

        Returns:
            (batch, input_size) one vector per text.
        """
        self._require_built()
        mask = lengths_to_mask(lengths.to(embedded.device), embedded.size(1))  # (batch, seq)
        return mean_pool(embedded, mask) if self.pooling == "mean" else max_pool(embedded, mask)
