"""Prediction for a model with a context head: texts in groups, in windows, back in input order; and online.

:func:`predict_groups` puts the texts in group order (groups by first appearance, each by its ``order`` or input
order), cuts the groups into the model's windows (:mod:`textclf.data.groups`), scores every text once and returns
the rows in input order. :func:`predict_split` does the same for a prepared split and its group codes.
:class:`OnlinePredictor` scores texts one at a time as they arrive (causal heads only); each result equals what
:func:`predict_groups` gives for the same text with the texts before it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch

from textclf.data.batching import BucketBatchSampler, TokenIdsDataset
from textclf.data.groups import Windowing, group_codes, order_rows, window_dataset
from textclf.errors import TextclfError
from textclf.inference import encode_texts, score_batches


def _windowing(model: Any) -> Windowing:
    windowing = getattr(model, "windowing", None)
    if windowing is None:
        raise TextclfError("this model has no context head: predict its texts one by one (model.predict(texts))")
    return windowing


def predict_split(
    model: Any,
    dataset: TokenIdsDataset,
    groups: np.ndarray,
    batch_size: int = 256,
    *,
    device: torch.device | str | None = None,
    autocast: Callable[[], AbstractContextManager[object]] | None = None,
) -> np.ndarray:
    """Probabilities ``(len(dataset), num_labels)`` of a prepared split whose rows are in group order.

    Args:
        model: a classifier with a context head.
        dataset: the texts, rows of a group consecutive and in order.
        groups: ``(len(dataset),)`` group codes (:func:`textclf.data.groups.group_codes`).
        batch_size: texts scored per forward pass, about (whole windows are taken).
        device: where to run (default: where the model is).
        autocast: a context-manager factory around each forward pass (see :func:`textclf.inference.predict_proba`).
    """
    windowing = _windowing(model)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    windows = window_dataset(dataset, groups, windowing)
    sampler = BucketBatchSampler(windows.lengths, max(1, round(batch_size / windowing.window)), shuffle=False)
    return score_batches(model, (windows.__getitems__(b) for b in sampler), len(dataset), device, autocast)


def predict_groups(
    model: Any,
    texts: Sequence[str],
    *,
    groups: Sequence[Hashable] | None = None,
    order: Sequence[Any] | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Probabilities ``(len(texts), num_labels)`` in input order, each text read with its group's context.

    Args:
        model: a classifier with a context head.
        texts: the texts.
        groups: each text's group (any hashable: conversation id, document name); default all one group.
        order: each text's position in its group (numbers; ties keep input order); default the input order.
        batch_size: texts scored per forward pass, about.

    Raises:
        TypeError: ``texts`` is one string.
        TextclfError: ``groups`` or ``order`` of another length than ``texts``, or an order that is not a number.
    """
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, not one string")
    if not all(isinstance(text, str) for text in texts):
        bad = next(text for text in texts if not isinstance(text, str))
        raise TextclfError(f"texts must be strings, got {type(bad).__name__} {bad!r:.40}")
    if isinstance(groups, dict | set) or isinstance(order, dict | set):
        raise TextclfError("groups and order must be sequences, one value per text, in the order of the texts")
    n = len(texts)
    keys: Sequence[Hashable] = [0] * n if groups is None else groups
    for name, values in (("groups", groups), ("order", order)):
        if values is not None and len(values) != n:
            raise TextclfError(f"{len(texts)} texts but {len(values)} {name}")
    positions = None if order is None else _numbers(order)
    permutation = order_rows(keys, positions)  # (n,) group order -> input row
    ordered = encode_texts(model, [texts[i] for i in permutation])
    probs = predict_split(model, ordered, group_codes([keys[i] for i in permutation]), batch_size)
    result = np.empty_like(probs)
    result[permutation] = probs
    return result


def _numbers(order: Sequence[Any]) -> list[Any]:
    """``order`` as given (exact: no rounding to float64), once every value is a finite number."""
    values = [v.item() if isinstance(v, np.generic) else v for v in order]
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise TextclfError(f"order must be finite numbers, got {value!r}")
    return values


class OnlinePredictor:
    """Score texts as they arrive, one at a time, with the context of the texts before them (causal heads only).

    Each text is encoded once; per group the last ``history + window`` text vectors are kept (until :meth:`end`
    forgets the group: a long-running service should call it when a conversation ends), and the context head
    runs over the same texts that :func:`predict_groups` would give it, so the result equals the batch prediction
    of that text (up to float rounding).

    Args:
        model: a classifier whose context head is causal (feed-forward, or a unidirectional RNN).
        device: where to run (default: where the model is).

    Raises:
        TextclfError: the model has no context head, or a bidirectional one (it reads later texts).
    """

    def __init__(self, model: Any, device: torch.device | str | None = None) -> None:
        windowing = _windowing(model)
        if windowing.after:
            raise TextclfError("online prediction needs a causal context head; a bidirectional one reads later texts")
        self.model, self.windowing = model.eval(), windowing
        self.device = torch.device(device) if device is not None else model.device
        self.model.to(self.device)
        self._groups: dict[Hashable, tuple[int, deque[torch.Tensor]]] = {}

    def end(self, group: Hashable) -> None:
        """Forget ``group`` (a finished conversation): its kept vectors are freed; a later text starts it anew."""
        self._groups.pop(group, None)

    @torch.no_grad()
    def push(self, group: Hashable, text: str) -> np.ndarray:
        """Probabilities ``(num_labels,)`` of ``text``, the next text of ``group``.

        Raises:
            TextclfError: ``text`` is not a string.
        """
        if not isinstance(text, str):
            raise TextclfError(f"text must be a string, got {type(text).__name__}")
        model, w = self.model, self.windowing
        count, vectors = self._groups.get(group, (0, deque(maxlen=w.before + w.window)))
        batch = encode_texts(model, [text]).__getitems__([0])
        token_ids, lengths = batch["token_ids"].to(self.device), batch["lengths"].to(self.device)
        vectors.append(model.encoder(model.embedding(token_ids), lengths)[0])  # (encoder.output_size,)
        self._groups[group] = (count + 1, vectors)
        start = max(0, count // w.window * w.window - w.before)  # the first text its window reads
        read = torch.stack(list(vectors)[-(count - start + 1) :])  # (texts read, encoder.output_size)
        logits = model.head(read, torch.zeros(len(read), dtype=torch.long, device=self.device))[-1:]
        return model.task.probabilities(logits).float().cpu().numpy()[0]
