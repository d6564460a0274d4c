"""The one forward loop: a model and texts (or a prepared split) -> probabilities, batch by batch, in input order.

The Python API (``model.predict``), ``textclf predict``, ``textclf evaluate``, the evaluation report after
``fit``/``test`` and the export parity check all call :func:`predict_proba`.

Batches are length-sorted (:class:`~textclf.data.batching.BucketBatchSampler` without shuffling), so little
compute goes to padding, and the rows are put back in input order by each example's index. Padding never
changes a result (see docs/formulation.md), so the order of batching does not either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import torch

from textclf.classifier import Classifier
from textclf.data.batching import BucketBatchSampler, TokenIdsDataset
from textclf.errors import TextclfError


def encode_texts(model: Classifier, texts: Sequence[str], max_length: int | None = None) -> TokenIdsDataset:
    """Tokenise and numericalise raw texts exactly as the model's training data was.

    ``max_length`` keeps at most that many tokens of each text (the first ones), on top of the tokenizer's own
    ``max_length``. Each text's ids are packed as soon as it is tokenised, so the memory held is about 8 bytes
    per kept token, not a Python list of token strings per text.

    Raises:
        TypeError: ``texts`` is one string.
    """
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, not one string")
    rows = []
    for text in texts:
        tokens = model.tokenizer(text)
        rows.append(np.asarray(model.vocab.encode(tokens[:max_length]), dtype=np.int64))
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(row) for row in rows], out=offsets[1:])
    return TokenIdsDataset(np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64), offsets)


def token_budget_batches(batches: Iterable[Sequence[int]], lengths: np.ndarray, max_tokens: int) -> Iterator[list[int]]:
    """``batches`` cut so that each holds at most ``max_tokens`` padded tokens (rows x longest row), in order.

    A text longer than ``max_tokens`` is a batch of its own. Splitting a batch never changes a result (padding
    never does; rows go back by their index).
    """
    for batch in batches:
        part: list[int] = []
        longest = 0
        for index in batch:
            length = int(lengths[index])
            if part and (len(part) + 1) * max(longest, length) > max_tokens:
                yield part
                part, longest = [], 0
            part.append(index)
            longest = max(longest, length)
        if part:
            yield part


def refuse_context_head(model: Any, source: str, reason: str) -> None:
    """Refuse a model with a context head (docs/sequential.md) where its texts would come without their groups.

    Raises:
        TextclfError: ``<source> has a context head: it classifies each text with the texts of its group ...,
            <reason>``.
    """
    if getattr(model, "windowing", None) is not None:
        raise TextclfError(
            f"{source} has a context head: it classifies each text with the texts of its group (conversation, "
            f"document), {reason} (see docs/sequential.md)"
        )


@torch.no_grad()
def predict_proba(
    model: Classifier,
    inputs: Sequence[str] | TokenIdsDataset,
    batch_size: int = 256,
    *,
    device: torch.device | str | None = None,
    autocast: Callable[[], AbstractContextManager[object]] | None = None,
    max_tokens: int | None = None,
) -> np.ndarray:
    """Class probabilities of every input, rows in input order.

    Args:
        model: a trained classifier; it runs in eval mode and is put back on its device and mode afterwards.
        inputs: raw texts, or a prepared split (e.g. ``datamodule.split("test")``).
        batch_size: texts per forward pass.
        device: where to run (default: where the model is).
        autocast: a context-manager factory wrapped around each forward pass, e.g. a Lightning precision plugin's
            ``forward_context`` (bf16/fp16 runs score under the precision they trained with).
        max_tokens: cut batches to at most this many padded tokens (rows x longest row; see
            :func:`token_budget_batches`), which bounds the memory of a forward pass whatever the text lengths.

    Returns:
        float32 ``(len(inputs), num_labels)``: a softmax over classes, or a sigmoid per label (multi-label).

    Raises:
        ValueError: ``batch_size`` or ``max_tokens`` < 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    refuse_context_head(model, "this model", "so predict with groups (model.predict(texts, groups=...), textclf "
                        "predict --group-column)")  # fmt: skip
    dataset = inputs if isinstance(inputs, TokenIdsDataset) else encode_texts(model, inputs)
    batches: Iterable[Sequence[int]] = BucketBatchSampler(dataset.lengths, batch_size, shuffle=False)
    if max_tokens is not None:
        batches = token_budget_batches(batches, dataset.lengths, max_tokens)
    return score_batches(model, (dataset.__getitems__(indices) for indices in batches), len(dataset), device, autocast)


@torch.no_grad()
def score_batches(
    model: Classifier,
    batches: Iterable[dict[str, torch.Tensor]],
    size: int,
    device: torch.device | str | None = None,
    autocast: Callable[[], AbstractContextManager[object]] | None = None,
) -> np.ndarray:
    """Probabilities ``(size, num_labels)`` of the rows of ``batches`` (padded batches as the datasets give them).

    Each batch's rows go to their ``index``; with ``segments`` (windows of groups) the model reads them, and only the
    ``scored`` rows are kept. The model runs in eval mode on ``device`` and is put back afterwards.

    Raises:
        TextclfError: some probabilities are NaN or infinite (weights that overflow).
    """
    probs = np.zeros((size, len(model.labels)), dtype=np.float32)
    original, was_training = model.device, model.training
    target = torch.device(device) if device is not None else original
    model.to(target).eval()
    context = autocast or nullcontext
    try:
        for batch in batches:
            rows = batch["index"]
            with context():
                if "segments" in batch:
                    logits = model(batch["token_ids"].to(target), batch["lengths"].to(target),
                                   batch["segments"].to(target))[batch["scored"].to(target)]  # fmt: skip
                    rows = rows[batch["scored"]]
                else:
                    logits = model(batch["token_ids"].to(target), batch["lengths"].to(target))  # (batch, num_labels)
            probs[rows.numpy()] = model.task.probabilities(logits).float().cpu().numpy()
    finally:
        model.to(original).train(was_training)
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():  # finite weights so large that the logits overflow (a diverged run): refuse, never write NaN
        raise TextclfError(
            f"the model gives NaN or infinite probabilities for {int(bad.sum())} of {len(probs)} texts: its weights "
            "overflow (a diverged training run); retrain it, e.g. with a lower learning rate or gradient clipping"
        )
    return probs
