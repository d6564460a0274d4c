"""Token attributions: which words drove a prediction (Integrated Gradients with Captum; docs/explain.md).

Each text is explained on its own, as a batch of one: no padding ever enters its forward passes, so a text's
attributions never depend on the other texts. The attributed output is the **logit** (pre-softmax / pre-sigmoid
score) of the target class; the input is the embedded text (the output of ``model.embedding``), and the baseline
is the same number of ``<pad>`` vectors, which are zero in every embedding mode (:class:`WordEmbedding`). A
token's attribution is the sum over the embedding dimensions of its Integrated Gradients, so the attributions of
a text add up to ``logit(text) - logit(all <pad>)`` up to the integration error, which is reported as ``delta``.

Captum is an optional dependency (the ``explain`` extra); it is imported when the first text is explained.

A model with a context head (docs/sequential.md) is refused (:func:`refuse_context`): its prediction of a text reads
the texts of its group, which per-text attributions do not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from textclf.classifier import Classifier
from textclf.errors import TextclfError
from textclf.inference import refuse_context_head
from textclf.vocab import UNK
from textclf.wording import counted

log = logging.getLogger("textclf")
MAX_N_STEPS = 10_000
"""The most integration steps (Captum's Gauss-Legendre rule holds an (n_steps, n_steps) array)."""
DELTA_WARNING = 0.05
"""|delta| above this share of the logit change (at least 1) is warned about."""

MISSING_EXTRA = "textclf explain needs the explain extra: pip install 'textclf[explain]'"
DEFAULT_N_STEPS = 50
STEP_TOKENS = 1 << 15  # interpolated tokens per forward/backward pass at most (bounds memory on long texts)
DEFAULT_MAX_LENGTH = 10_000  # tokens kept per text when the checkpoint's tokenizer has no max_length
Target = str | int | None


def integrated_gradients() -> Any:
    """Captum's ``IntegratedGradients`` class.

    Raises:
        TextclfError: captum is not installed (:data:`MISSING_EXTRA`).
    """
    try:
        from captum.attr import IntegratedGradients
    except ImportError:
        raise TextclfError(MISSING_EXTRA) from None
    return IntegratedGradients


def explain(
    model: Classifier,
    texts: Sequence[str],
    *,
    target: Target | Sequence[Target] = None,
    n_steps: int = DEFAULT_N_STEPS,
    max_length: int | None = None,
    device: str | torch.device | None = None,
) -> list[dict[str, Any]]:
    """Token attributions of each text, in input order (one record per text; see :func:`iter_explanations`)."""
    refuse_context(model)
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, not one string")
    return list(iter_explanations(model, texts, target=target, n_steps=n_steps, max_length=max_length, device=device))


def iter_explanations(
    model: Classifier,
    texts: Iterable[str],
    *,
    target: Target | Sequence[Target] = None,
    n_steps: int = DEFAULT_N_STEPS,
    max_length: int | None = None,
    device: str | torch.device | None = None,
) -> Iterator[dict[str, Any]]:
    """Explain texts one at a time (Integrated Gradients on the embeddings, the target's logit).

    Args:
        model: a trained classifier (e.g. from :func:`textclf.checkpoint.load_model`); it runs in eval mode on
            ``device`` and is put back on its device and mode afterwards.
        texts: raw texts, tokenised by the model's own tokenizer.
        target: the class to explain: ``None`` (the most probable class or label), a label name, a class index,
            or a sequence of these, one per text.
        n_steps: integration steps (more: smaller ``delta``, proportionally slower).
        max_length: keep at most this many tokens of each text (default: the tokenizer's ``max_length``, else
            10,000).
        device: where to run (default: where the model is).

    Yields:
        One dict per text: ``text``; ``tokens`` (the tokenizer's tokens, ``(n,)``); ``unknown`` (0-based positions
        of tokens the vocabulary lacks, which the model saw as ``<unk>``); ``attributions`` (``(n,)`` floats in
        logit units, positive = towards ``target``); ``label`` (the model's decision: a label, or a list of
        labels for multi-label models); ``target``; ``probability`` (the target's); ``logit`` and
        ``baseline_logit`` (the target's logit at the text and at the all-``<pad>`` baseline); ``delta``
        (``sum(attributions) - (logit - baseline_logit)``, the integration error); ``attention`` (``(n,)``
        weights summing to 1, only when the encoder pools by attention). A text without tokens is read as the
        model reads it, as one ``<unk>`` (``tokens`` ``["<unk>"]``).

    Raises:
        TextclfError: captum is missing; an unknown target label or index; ``n_steps`` < 1; a target sequence
            whose length differs from the texts'; a model with a context head (:func:`refuse_context`).
    """
    refuse_context(model)
    if not 1 <= n_steps <= MAX_N_STEPS:  # Captum's step rule builds an (n_steps, n_steps) array
        raise TextclfError(f"n_steps must be in [1, {MAX_N_STEPS}], got {n_steps}")
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, not one string")
    ig_class = integrated_gradients()
    targets = _targets(target, texts)
    limit = max_length or model.tokenizer.max_length or DEFAULT_MAX_LENGTH
    original, was_training = model.device, model.training
    where = torch.device(device) if device is not None else original
    model.to(where).eval()
    ig = ig_class(lambda embedded, lengths: _logits(model, embedded, lengths))
    try:
        # cuDNN computes RNN gradients in training mode only; autograd must be on even inside torch.no_grad()
        with torch.backends.cudnn.flags(enabled=False), torch.enable_grad():
            for index, text in enumerate(texts):
                chosen = targets[index] if isinstance(targets, list) else targets
                yield _explain_one(model, ig, text, chosen, n_steps, limit, where)
    finally:
        model.to(original).train(was_training)


def refuse_context(model: Classifier, source: str = "this model") -> None:
    """Refuse a model with a context head, before any work (its predictions read the texts around each text).

    Raises:
        TextclfError: naming ``source``.
    """
    refuse_context_head(model, source, "so attributions to one text's tokens would not explain its prediction; "
                        "explain is for models without one")  # fmt: skip


def _targets(target: Target | Sequence[Target], texts: Iterable[str]) -> Target | list[Target]:
    if target is None or isinstance(target, str | int):
        return target
    targets = list(target)
    if isinstance(texts, Sequence) and len(targets) != len(texts):
        given = f"{counted(len(targets), 'target')} for {counted(len(texts), 'text')}"
        raise TextclfError(f"{given}: give one target per text, or one for all")
    return targets


def _logits(model: Classifier, embedded: Tensor, lengths: Tensor) -> Tensor:
    """The model's forward pass from the embedded text: (batch, seq, dim), (batch,) -> logits (batch, classes)."""
    encoded = model.encoder(model.embedding_dropout(embedded), lengths)  # dropouts: identity in eval mode
    return model.head(model.dropout(encoded))


def _target_index(model: Classifier, target: Target, probabilities: Tensor) -> int:
    if target is None:
        return int(probabilities.argmax())
    if isinstance(target, int) and not isinstance(target, bool):
        if not 0 <= target < len(model.labels):
            raise TextclfError(f"target {target} is not a class index of this model (0 to {len(model.labels) - 1})")
        return target
    if str(target) not in model.labels:
        raise TextclfError(f"target {target!r} is not a label of this model; its labels: {', '.join(model.labels)}")
    return model.labels.index(str(target))


def _explain_one(
    model: Classifier, ig: Any, text: str, target: Target, n_steps: int, limit: int, device: torch.device
) -> dict[str, Any]:
    tokens = model.tokenizer(text)[:limit] or [UNK]  # the model reads a text without tokens as one <unk>
    record: dict[str, Any] = {"text": text, "tokens": tokens}
    ids = model.vocab.encode(tokens)
    record["unknown"] = [i for i, token_id in enumerate(ids) if token_id == model.vocab.unk_index]
    token_ids = torch.tensor([ids], dtype=torch.long, device=device)  # (1, n)
    lengths = torch.tensor([len(ids)], dtype=torch.long)  # (1,)
    attention: list[Tensor] = []
    pooling = getattr(model.encoder, "attention", None)
    hook = None
    if pooling is not None:  # the weights of the plain forward pass (not of the interpolated ones)
        hook = pooling.register_forward_hook(lambda pool, args, _: attention.append(pool.attention_weights(*args)))
    try:
        with torch.no_grad():
            embedded = model.embedding(token_ids)  # (1, n, dim)
            logits = _logits(model, embedded, lengths)  # (1, classes)
    finally:
        if hook is not None:
            hook.remove()
    probabilities = model.task.probabilities(logits)[0]  # (classes,)
    index = _target_index(model, target, probabilities)
    baseline = torch.zeros_like(embedded)  # n <pad> vectors: the <pad> row is zero in every embedding mode
    steps = max(1, min(n_steps, STEP_TOKENS // len(ids)))
    attributions, delta = ig.attribute(
        embedded,
        baselines=baseline,
        target=index,
        additional_forward_args=(lengths,),
        n_steps=n_steps,
        internal_batch_size=steps,
        return_convergence_delta=True,
    )
    with torch.no_grad():
        baseline_logit = float(_logits(model, baseline, lengths)[0, index])
    decided = model.task.decide(probabilities[None].cpu().numpy(), _thresholds(model))[0]
    record.update(
        attributions=[float(a) for a in attributions[0].sum(dim=-1).detach().cpu()],  # (n,): summed over dims
        label=decided,
        target=model.labels[index],
        probability=float(probabilities[index]),
        logit=float(logits[0, index]),
        baseline_logit=baseline_logit,
        delta=float(delta[0]),
    )
    change = abs(float(logits[0, index]) - baseline_logit)
    if abs(record["delta"]) > DELTA_WARNING * max(1.0, change):  # the attributions do not add up: say so
        log.warning(
            "the attributions of a %s miss %.3g of the logit change %.3g (delta); raise n_steps (now %d)",
            counted(len(ids), "token") + " text",
            abs(record["delta"]),
            change,
            n_steps,
        )
    if attention:
        record["attention"] = [float(w) for w in attention[0][0].cpu()]
    return record


def _thresholds(model: Classifier) -> Any:
    thresholds = getattr(model, "label_thresholds", None)
    return thresholds() if callable(thresholds) else None
