"""The one forward loop: a model and texts (or a prepared split) -> probabilities, batch by batch, in input order.

The Python API (``model.predict``), ``textclf predict``, ``textclf evaluate``, the evaluation report after
``fit``/``test`` and the export parity check all call :func:`predict_proba`.

Batches are length-sorted (:class:`~textclf.data.batching.BucketBatchSampler` without shuffling), so little
compute goes to padding, and the rows are put back in input order by each example's index. Padding never
changes a result (see docs/formulation.md), so the order of batching does not either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import torch

from textclf.classifier import Classifier
from textclf.data.batching import BucketBatchSampler, TokenIdsDataset


def encode_texts(model: Classifier, texts: Sequence[str]) -> TokenIdsDataset:
    """Tokenise and numericalise raw texts exactly as the model's training data was."""
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, not one string")
    return TokenIdsDataset.from_lists([model.vocab.encode(tokens) for tokens in model.tokenizer.batch(texts)])


@torch.no_grad()
def predict_proba(
    model: Classifier,
    inputs: Sequence[str] | TokenIdsDataset,
    batch_size: int = 256,
    *,
    device: torch.device | str | None = None,
    autocast: Callable[[], AbstractContextManager[object]] | None = None,
) -> np.ndarray:
    """Class probabilities of every input, rows in input order.

    Args:
        model: a trained classifier; it runs in eval mode and is put back on its device and mode afterwards.
        inputs: raw texts, or a prepared split (e.g. ``datamodule.split("test")``).
        batch_size: texts per forward pass.
        device: where to run (default: where the model is).
        autocast: a context-manager factory wrapped around each forward pass, e.g. a Lightning precision plugin's
            ``forward_context`` (bf16/fp16 runs score under the precision they trained with).

    Returns:
        float32 ``(len(inputs), num_labels)``: a softmax over classes, or a sigmoid per label (multi-label).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    dataset = inputs if isinstance(inputs, TokenIdsDataset) else encode_texts(model, inputs)
    probs = np.zeros((len(dataset), len(model.labels)), dtype=np.float32)
    original, was_training = model.device, model.training
    target = torch.device(device) if device is not None else original
    model.to(target).eval()
    context = autocast or nullcontext
    try:
        for indices in BucketBatchSampler(dataset.lengths, batch_size, shuffle=False):
            batch = dataset.__getitems__(indices)
            with context():
                logits = model(batch["token_ids"].to(target), batch["lengths"].to(target))  # (batch, num_labels)
            probs[batch["index"].numpy()] = model.task.probabilities(logits).cpu().numpy()
    finally:
        model.to(original).train(was_training)
    return probs
