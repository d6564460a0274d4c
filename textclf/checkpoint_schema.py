"""The ``textclf`` section of a checkpoint checked as untrusted data: every key, type and range, before any use.

A checkpoint from somebody else is data: :func:`check_section` refuses, in one line naming the file and the key,
anything :mod:`textclf.checkpoint` would otherwise hand to a constructor unchecked (labels that are not strings,
a vocabulary with duplicates, a negative embedding size, model options textclf never writes such as
``init_from``, an encoder class that is not in the registry). :func:`check_state_dict` does the same for the
weights' container (names to tensors); whether their shapes fit is checked when a model loads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_args

import torch

from textclf.embedding import EmbeddingMode
from textclf.errors import TextclfError
from textclf.tokenize import Tokenizer

SECTION_KEYS = ("format_version", "vocab", "vocab_trained_size", "labels", "tokenizer", "encoder", "model")
PLAIN = (str, int, float, bool, type(None))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_rate(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= float(value) < 1.0


MODEL_KEYS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "embedding_dim": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "embedding_mode": (lambda v: v in get_args(EmbeddingMode), f"one of {', '.join(get_args(EmbeddingMode))}"),
    "embedding_dropout": (_is_rate, "a number in [0, 1)"),
    "dropout": (_is_rate, "a number in [0, 1)"),
    "multi_label": (lambda v: isinstance(v, bool), "true or false"),
    "window": (lambda v: _is_int(v) and 1 <= v <= 100_000, "an integer from 1 to 100,000"),
    "history": (lambda v: _is_int(v) and 0 <= v <= 100_000, "an integer from 0 to 100,000"),
}
"""The model options a checkpoint may set, each with its check and what it must be (textclf writes the first five;
``window`` and ``history`` with a context head)."""

ENCODER_ARG_KINDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "input_size": ((int, type(None)), "an integer or null"),
    "hidden_size": (int, "an integer"),
    "num_layers": (int, "an integer"),
    "bidirectional": (bool, "true or false"),
    "dropout": ((int, float), "a number"),
    "cell": (str, "a string"),
    "pooling": (str, "a string"),
    "implementation": (str, "a string"),
}
"""The kinds of the encoder settings textclf writes; the encoder class checks their ranges and choices."""


def check_section(
    section: Any, source: str | Path, readable_versions: tuple[int, ...], encoders: Mapping[str, type]
) -> None:
    """Refuse a ``textclf`` section that textclf did not write (or cannot read).

    Args:
        section: the checkpoint's ``textclf`` entry.
        source: the file, named in the message.
        readable_versions: the format versions this textclf reads.
        encoders: the registry of encoder classes a checkpoint may name (never imported from the file).

    Raises:
        TextclfError: one line: ``<source>: <key> ...`` saying what is wrong with which key.
    """

    def refuse(what: str) -> TextclfError:
        return TextclfError(f"{source}: not a valid textclf checkpoint: {what}")

    if not isinstance(section, dict):
        raise TextclfError(f"{source}: not a textclf checkpoint (no 'textclf' section)")
    version = section.get("format_version")
    if not _is_int(version) or version not in readable_versions:
        readable = ", ".join(map(str, readable_versions))
        raise TextclfError(
            f"{source}: checkpoint format version {version!r} is not supported (this textclf reads {readable})"
        )
    missing = [key for key in SECTION_KEYS if key not in section]
    if missing:
        raise refuse(f"its textclf section lacks {', '.join(missing)}")
    encoder = section["encoder"]
    name = encoder.get("class_path") if isinstance(encoder, dict) else None
    if not isinstance(name, str) or name not in encoders:
        known = ", ".join(sorted({f"{c.__module__}.{c.__qualname__}" for c in encoders.values()}))
        raise TextclfError(f"{source}: checkpoint names an unknown encoder {name!r} (textclf's encoders: {known})")
    init_args = encoder.get("init_args")
    if not isinstance(init_args, dict) or not all(
        isinstance(k, str) and isinstance(v, PLAIN) for k, v in init_args.items()
    ):
        raise refuse("encoder.init_args is not a mapping of names to plain values")
    for key, value in init_args.items():
        kind, expected = ENCODER_ARG_KINDS.get(key, (object, ""))
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise refuse(f"encoder.init_args.{key} is {value!r}, not {expected}")
    _check_vocab(section, refuse)
    labels = section["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise refuse("labels is not a non-empty list of strings")
    if len(set(labels)) != len(labels):
        raise refuse(f"labels has duplicates ({len(labels)} names, {len(set(labels))} distinct)")
    tokenizer = section["tokenizer"]
    if not isinstance(tokenizer, dict) or not all(isinstance(k, str) for k in tokenizer):
        raise refuse("tokenizer is not a mapping of settings")
    max_length = tokenizer.get("max_length")
    if max_length is not None and not (_is_int(max_length) and max_length >= 1):
        raise refuse(f"tokenizer.max_length is {max_length!r}, not an integer >= 1 or null")
    try:
        Tokenizer.from_dict(tokenizer)
    except (TypeError, ValueError) as e:
        raise refuse(f"tokenizer: {_first_line(e)}") from None
    model = section["model"]
    if not isinstance(model, dict):
        raise refuse("model is not a mapping of settings")
    for key, value in model.items():
        if key not in MODEL_KEYS:
            raise refuse(f"model.{key} is not a setting a checkpoint may hold ({', '.join(MODEL_KEYS)})")
        check, expected = MODEL_KEYS[key]
        if not check(value):
            raise refuse(f"model.{key} is {value!r}, not {expected}")
    if "embedding_dim" not in model:
        raise refuse("model.embedding_dim is missing")


def _check_vocab(section: dict[str, Any], refuse: Callable[[str], TextclfError]) -> None:
    tokens, trained = section["vocab"], section["vocab_trained_size"]
    if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
        raise refuse("vocab is not a list of strings")
    if tokens[:2] != ["<pad>", "<unk>"]:
        raise refuse(f"vocab starts with {tokens[:2]}, not ['<pad>', '<unk>']")
    if len(set(tokens)) != len(tokens):
        raise refuse(f"vocab has duplicates ({len(tokens)} words, {len(set(tokens))} distinct)")
    if not _is_int(trained) or not 2 <= trained <= len(tokens):
        raise refuse(f"vocab_trained_size is {trained!r}, not an integer in [2, {len(tokens)}]")


def check_state_dict(state: Any, source: str | Path) -> None:
    """Refuse weights that are not a mapping of parameter names to finite tensors.

    Raises:
        TextclfError: one line naming ``source`` and the first entry that is not a tensor, or a floating-point
            weight holding NaN or infinite values (it would predict garbage).
    """
    if not isinstance(state, dict):
        raise TextclfError(f"{source}: not a valid textclf checkpoint: it has no state_dict (its weights)")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise TextclfError(f"{source}: not a valid textclf checkpoint: state_dict entry {key!r} is not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise TextclfError(f"{source}: not a valid textclf checkpoint: weight {key} holds NaN or infinite values")


def build_error(source: str | Path, what: str, error: Exception) -> TextclfError:
    """The one-line error of a section that passed :func:`check_section` but still does not build (``what``)."""
    return TextclfError(f"{source}: not a valid textclf checkpoint: {what}: {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
