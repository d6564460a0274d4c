"""Context heads: classify every short text of a sequence from its own vector and its neighbours' vectors.

A context head, given as ``TextClassifier(context=...)``, replaces the linear head of
:class:`~textclf.model.TextClassifier`. It takes the text vectors of a batch flattened, ``vectors``
``(n, input_size)``, with ``segments`` ``(n,)``: the texts of one segment (a window of one group: a conversation, a
document) are consecutive rows, in their order, and their segment ids are equal; a new id starts a new segment.
Context never crosses a segment boundary. It returns logits ``(n, num_classes)``.

- :class:`NoContext`: the plain classifier's linear head, one text at a time.
- :class:`FeedForwardContext`: the two-layer feed-forward network of Lee & Dernoncourt (2016, arXiv 1603.03827,
  section 2.2) with its d1 / d2 preceding texts; exact with ``d1 + d2`` texts of history.
- :class:`RNNContext`: an LSTM/GRU over the sequence of text vectors (the context RNN of hierarchical dialog-act
  models, e.g. Kumar et al. 2018, without their CRF). Bidirectional, it also reads the texts after the current one.

The equations are in docs/sequential.md.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textclf.errors import TextclfError
from textclf.numbers import DropoutRate, NonNegativeInt, PositiveInt

__all__ = [
    "CONTEXTS",
    "Context",
    "FeedForwardContext",
    "NoContext",
    "RNNContext",
    "build_context",
    "context_config",
    "head_for",
    "segment_positions",
    "shifted",
]

RNN_HISTORY = 16  # default texts of history for a context without a bound of its own (an RNN)
MAX_WINDOW = 100_000  # texts per window and of history at most (a checkpoint claiming more is refused)
MAX_LAYERS = 16  # stacked layers of an RNN head at most


def segment_positions(segments: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Where each row sits in its segment.

    Args:
        segments: ``(n,)`` segment ids, equal ids consecutive.

    Returns:
        ``(index, position, lengths)``: ``(n,)`` 0-based segment number of each row, ``(n,)`` its 0-based position
        in the segment, and ``(segments,)`` the number of rows of each segment.
    """
    _, index, lengths = torch.unique_consecutive(segments, return_inverse=True, return_counts=True)
    starts = torch.cumsum(lengths, 0) - lengths  # (segments,)
    position = torch.arange(len(segments), device=segments.device) - starts[index]
    return index, position, lengths


def shifted(x: Tensor, segments: Tensor, d: int) -> Tensor:
    """Row ``i`` of the result is row ``i - d`` of ``x`` when it is in the same segment, else zeros (the padding).

    Args:
        x: ``(n, features)``.
        segments: ``(n,)`` segment ids, equal ids consecutive.
        d: how many rows back (0: ``x`` itself).

    Returns:
        ``(n, features)``.
    """
    if d == 0:
        return x
    source = torch.arange(len(x), device=x.device) - d  # (n,)
    clamped = source.clamp(min=0)
    valid = (source >= 0) & (segments[clamped] == segments)  # (n,)
    return torch.where(valid.unsqueeze(1), x[clamped], torch.zeros((), dtype=x.dtype, device=x.device))


class Context(nn.Module):
    """Context-head contract: ``forward(vectors (n, input_size), segments (n,)) -> logits (n, num_classes)``.

    Built lazily like an encoder: :meth:`build` gets the text-vector size and the number of classes from the model.
    """

    input_size: int | None
    num_classes: int | None

    def __init__(self) -> None:
        super().__init__()
        self.input_size = None
        self.num_classes = None

    @property
    def causal(self) -> bool:
        """Whether a text's output depends on earlier texts only (so predictions can be made online)."""
        return True

    def history(self) -> int | None:
        """Preceding texts an output depends on at most, or None when unbounded (an RNN)."""
        return 0

    def build(self, input_size: int, num_classes: int) -> None:
        """Create the layers; a no-op when already built with these sizes.

        Raises:
            TextclfError: a size is not a positive integer, or the head was built with other sizes.
        """
        for name, value in (("input_size", input_size), ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TextclfError(f"{type(self).__name__}: {name} must be a positive integer, got {value!r}")
        if self.input_size is not None:
            if (self.input_size, self.num_classes) != (input_size, num_classes):
                raise TextclfError(f"{type(self).__name__} was built for {self.input_size} -> {self.num_classes}")
            return
        self._build(input_size, num_classes)
        self.input_size, self.num_classes = input_size, num_classes

    def _build(self, input_size: int, num_classes: int) -> None:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """JSON-friendly init arguments such that ``type(self)(**config)`` rebuilds the (unbuilt) head."""
        return {}


class NoContext(Context):
    """No context: ``logits_i = W s_i + b``, the plain classifier's linear head applied to each text alone."""

    def _build(self, input_size: int, num_classes: int) -> None:
        self.linear = nn.Linear(input_size, num_classes)

    def forward(self, vectors: Tensor, segments: Tensor) -> Tensor:
        """Vectors (n, input_size), segments (n,) -> logits (n, num_classes)."""
        return self.linear(vectors)


class FeedForwardContext(Context):
    """Lee & Dernoncourt (2016), section 2.2: a two-layer feed-forward network over the current and preceding texts.

    ``y_i = tanh(sum_{d=0..d1} W1_d s_{i-d} + b1)`` and ``logits_i = sum_{d=0..d2} W2_d y_{i-d} + b2`` (the softmax is
    the task's), where ``s_j`` and ``y_j`` are zero vectors for ``j`` before the start of the segment. With
    ``d1 = d2 = 0`` every text is classified alone by the two layers.

    Args:
        d1: preceding texts whose vectors the first layer reads (the paper's d1; it tried 0, 1, 2).
        d2: preceding first-layer outputs the second layer reads (the paper's d2).
        hidden_size: size of ``y``; default the number of classes, as in the paper.
    """

    def __init__(self, d1: NonNegativeInt = 2, d2: NonNegativeInt = 1, hidden_size: PositiveInt | None = None) -> None:
        super().__init__()
        for name, value in (("d1", d1), ("d2", d2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TextclfError(f"FeedForwardContext: {name} must be an integer >= 0, got {value!r}")
        if hidden_size is not None and (isinstance(hidden_size, bool) or not isinstance(hidden_size, int)
                                        or hidden_size < 1):  # fmt: skip
            raise TextclfError(f"FeedForwardContext: hidden_size must be a positive integer, got {hidden_size!r}")
        self.d1, self.d2, self.hidden_size = int(d1), int(d2), None if hidden_size is None else int(hidden_size)

    def history(self) -> int:
        """d1 + d2: the output of text i reads texts i - d1 - d2 .. i."""
        return self.d1 + self.d2

    def _build(self, input_size: int, num_classes: int) -> None:
        hidden = self.hidden_size or num_classes
        self.first = nn.Linear((self.d1 + 1) * input_size, hidden)  # [W1_0 ... W1_d1]
        self.second = nn.Linear((self.d2 + 1) * hidden, num_classes)  # [W2_0 ... W2_d2]

    def forward(self, vectors: Tensor, segments: Tensor) -> Tensor:
        """Vectors (n, input_size), segments (n,) -> logits (n, num_classes)."""
        s = torch.cat([shifted(vectors, segments, d) for d in range(self.d1 + 1)], dim=1)  # (n, (d1+1) input)
        y = torch.tanh(self.first(s))  # (n, hidden)
        return self.second(torch.cat([shifted(y, segments, d) for d in range(self.d2 + 1)], dim=1))  # (n, classes)

    def config(self) -> dict[str, Any]:
        """d1, d2 and hidden_size."""
        return {"d1": self.d1, "d2": self.d2, "hidden_size": self.hidden_size}


class RNNContext(Context):
    """An LSTM or GRU over the text vectors of each segment, then a linear layer: ``logits_i = W h_i + b``.

    ``h_i`` is the RNN's state at text ``i`` (both directions concatenated when bidirectional). Segments are packed
    (``pack_padded_sequence``), so a segment's outputs never depend on the padding of longer ones.

    Args:
        cell: ``lstm`` or ``gru``.
        hidden_size: state size of each direction.
        num_layers: stacked RNN layers.
        bidirectional: also read the texts after the current one (not causal: no online prediction).
        dropout: dropout on the RNN's outputs (and between layers).
    """

    def __init__(
        self,
        cell: Literal["lstm", "gru"] = "lstm",
        hidden_size: PositiveInt = 100,
        num_layers: PositiveInt = 1,
        bidirectional: bool = False,
        dropout: DropoutRate = 0.0,
    ) -> None:
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise TextclfError(f"RNNContext: cell must be 'lstm' or 'gru', got {cell!r}")
        for name, value, most in (("hidden_size", hidden_size, None), ("num_layers", num_layers, MAX_LAYERS)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (most and value > most):
                bound = f" <= {most}" if most else ""
                raise TextclfError(f"RNNContext: {name} must be a positive integer{bound}, got {value!r}")
        if not isinstance(bidirectional, bool):
            raise TextclfError(f"RNNContext: bidirectional must be true or false, got {bidirectional!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
            raise TextclfError(f"RNNContext: dropout must be a number in [0, 1), got {dropout!r}")
        self.cell, self.hidden_size, self.num_layers = cell, int(hidden_size), int(num_layers)
        self.bidirectional, self.dropout_rate = bool(bidirectional), float(dropout)

    @property
    def causal(self) -> bool:
        """A unidirectional RNN reads earlier texts only."""
        return not self.bidirectional

    def history(self) -> None:
        """Unbounded: the state carries every earlier text of the segment."""
        return None

    def _build(self, input_size: int, num_classes: int) -> None:
        rnn = nn.LSTM if self.cell == "lstm" else nn.GRU
        between = self.dropout_rate if self.num_layers > 1 else 0.0  # nn.LSTM's dropout between layers
        self.rnn = rnn(input_size, self.hidden_size, num_layers=self.num_layers, batch_first=True,
                       bidirectional=self.bidirectional, dropout=between)  # fmt: skip
        self.dropout = nn.Dropout(self.dropout_rate)
        self.linear = nn.Linear(self.hidden_size * (2 if self.bidirectional else 1), num_classes)

    def forward(self, vectors: Tensor, segments: Tensor) -> Tensor:
        """Vectors (n, input_size), segments (n,) -> logits (n, num_classes)."""
        index, position, lengths = segment_positions(segments)
        padded = vectors.new_zeros(len(lengths), int(lengths.max()), vectors.size(1))  # (segments, longest, input)
        padded[index, position] = vectors
        packed = pack_padded_sequence(padded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)  # (segments, longest, dirs * hidden)
        return self.linear(self.dropout(states[index, position]))  # (n, num_classes)

    def config(self) -> dict[str, Any]:
        """cell, hidden_size, num_layers, bidirectional and dropout."""
        return {"cell": self.cell, "hidden_size": self.hidden_size, "num_layers": self.num_layers,
                "bidirectional": self.bidirectional, "dropout": self.dropout_rate}  # fmt: skip


_HEADS: tuple[type[Context], ...] = (NoContext, FeedForwardContext, RNNContext)
CONTEXTS: dict[str, type[Context]] = {f"{cls.__module__}.{cls.__qualname__}": cls for cls in _HEADS} | {
    f"textclf.{cls.__qualname__}": cls for cls in _HEADS
}
"""Context classes a checkpoint may name (``module.Class`` and ``textclf.Class``); never imported from a file."""


def context_config(context: Context) -> dict[str, Any]:
    """``{"class_path", "init_args"}`` of a context head, as stored in checkpoints."""
    return {"class_path": f"{type(context).__module__}.{type(context).__qualname__}", "init_args": context.config()}


def build_context(config: Any, source: Any = "checkpoint") -> Context:
    """An (unbuilt) context head from :func:`context_config`, its class taken from :data:`CONTEXTS` only.

    Raises:
        TextclfError: naming ``source``: not a mapping, an unknown class, or settings the class refuses.
    """
    name = config.get("class_path") if isinstance(config, dict) else None
    if name not in CONTEXTS:
        known = ", ".join(sorted(k for k in CONTEXTS if k.count(".") > 1))  # textclf.context.Class
        raise TextclfError(f"{source}: checkpoint names an unknown context head {name!r} (textclf's: {known})")
    init_args = config.get("init_args", {})
    if not isinstance(init_args, dict) or not all(isinstance(v, int | float | str | bool | None)
                                                  for v in init_args.values()):  # fmt: skip
        raise TextclfError(f"{source}: context.init_args is not a mapping of plain values")
    try:
        return CONTEXTS[name](**init_args)
    except (TypeError, ValueError, TextclfError) as e:
        raise TextclfError(f"{source}: not a valid textclf checkpoint: its context head: {e}") from None


def head_for(
    context: Context | None, input_size: int, num_classes: int, window: int, history: int | None
) -> tuple[nn.Module, tuple[int, int, int] | None]:
    """The model's head, and how its data is cut: a linear layer and None, or the built context head and a cut.

    The cut is ``(window, before, after)``, the fields of :class:`textclf.data.groups.Windowing`.

    Args:
        context: the context head, or None for the plain classifier.
        input_size: the text-vector size (the encoder's output size).
        num_classes: number of classes.
        window: texts scored per window (:mod:`textclf.data.groups`).
        history: texts read before each window (and after it, for a non-causal head); default ``d1 + d2`` for the
            feed-forward head (exact), 16 for an RNN head (truncated history).

    Raises:
        TextclfError: ``window`` < 1, or ``history`` below what the head reads (``d1 + d2``).
    """
    if context is None:
        return nn.Linear(input_size, num_classes), None
    needed = context.history()
    if history is None:
        history = RNN_HISTORY if needed is None else needed
    for name, value, least in (("window", window, 1), ("history", history, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= MAX_WINDOW:
            raise TextclfError(f"{name} must be an integer from {least} to {MAX_WINDOW:,}, got {value!r}")
    if needed is not None and history < needed:
        raise TextclfError(f"history ({history}) must be at least d1 + d2 = {needed} for the feed-forward context")
    context.build(input_size, num_classes)
    return context, (int(window), int(history), 0 if context.causal else int(history))
