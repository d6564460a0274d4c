"""The checkpoint format: what a textclf checkpoint holds, how it is read (as data) and how a model is rebuilt.

A checkpoint written by ``textclf fit`` is Lightning's dict (``state_dict``, optimizer and loop states, ``hparams``)
plus a ``textclf`` section (:func:`model_config`) with everything needed to rebuild the model without the data or
the recipe::

    format_version       int, FORMAT_VERSION
    vocab                tokens in index order (0 = <pad>, 1 = <unk>)
    vocab_trained_size   rows of the vocabulary that train (the rest came from a vectors file)
    labels               class names in index order
    tokenizer            Tokenizer.to_dict()
    encoder              {"class_path": ..., "init_args": Encoder.config()}
    model                {"embedding_dim", "embedding_mode", "embedding_dropout", "dropout", "multi_label"}

Files are read with ``torch.load(weights_only=True)``: plain containers and tensors only, never a pickled object.
The encoder class is looked up in :data:`ENCODERS`, a registry of textclf's own classes, and never imported from
a name stored in the file.
"""

from __future__ import annotations

import pickle
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from textclf.classifier import Classifier
from textclf.encoders import BagOfEmbeddingsEncoder, Encoder, RNNEncoder
from textclf.errors import TextclfError
from textclf.tokenize import Tokenizer, TokenizerMode
from textclf.vocab import Vocabulary

ModelT = TypeVar("ModelT", bound=Classifier)

FORMAT_VERSION = 1
READABLE_VERSIONS = (1,)

ENCODERS: dict[str, type[Encoder]] = {}
"""Encoder classes a checkpoint may name: ``module.Class`` as written by textclf, and the short ``textclf.Class``."""


def register_encoder(encoder_class: type[Encoder]) -> type[Encoder]:
    """Let checkpoints name ``encoder_class`` (by its full ``module.Class`` path and as ``textclf.Class``)."""
    if not (isinstance(encoder_class, type) and issubclass(encoder_class, Encoder)):
        raise TypeError(f"{encoder_class!r} is not an Encoder subclass")
    ENCODERS[class_path(encoder_class)] = encoder_class
    ENCODERS[f"textclf.{encoder_class.__qualname__}"] = encoder_class
    return encoder_class


def class_path(encoder_class: type) -> str:
    """``module.QualifiedName`` of a class, as stored in checkpoints."""
    return f"{encoder_class.__module__}.{encoder_class.__qualname__}"


for _encoder in (RNNEncoder, BagOfEmbeddingsEncoder):
    register_encoder(_encoder)


# ---- reading --------------------------------------------------------------------------------------------------

_READ: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()  # the last file read, by identity


def read_checkpoint(path: str | Path, map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """A textclf checkpoint as a dict, its ``textclf`` section checked (format version, encoder name).

    The file is read once per process however many parts ask for it (fine-tuning needs its vocabulary in the
    data module and its weights in the model): the last file read is kept, keyed by path, size and modification
    time, and handed out again. Callers must not modify it.

    Raises:
        TextclfError: the file is missing, not loadable with ``weights_only=True`` (e.g. a pickle payload), not a
            textclf checkpoint, or of a format version this textclf cannot read. The message names the file.
    """
    path = Path(path)
    if path.is_dir():
        raise TextclfError(f"{path} is a folder, not a checkpoint file")
    if not path.is_file():
        raise TextclfError(f"checkpoint not found: {path}")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, str(map_location))
    if key in _READ:
        return _READ[key]
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of a file it then refuses
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's message advises retrying with weights_only=False: not for a file from an unknown source
        reason = "UnpicklingError: not plain tensors and containers"
        if "Unsupported global" in str(e) or "GLOBAL" in str(e):
            reason = "UnpicklingError: it holds Python objects, which textclf never unpickles"
        raise TextclfError(f"{path}: not a readable checkpoint ({reason})") from None
    except Exception as e:
        reason = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0].split('. ')[0]}"
        raise TextclfError(f"{path}: not a readable checkpoint ({reason}); the file may be truncated") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("textclf"), dict):
        raise TextclfError(f"{path}: not a textclf checkpoint (no 'textclf' section)")
    check_config(checkpoint["textclf"], path)
    _READ.clear()
    _READ[key] = checkpoint
    return checkpoint


def check_config(config: dict[str, Any], source: str | Path = "checkpoint") -> None:
    """Refuse a ``textclf`` section of an unknown format version or naming an unregistered encoder."""
    version = config.get("format_version")
    if version not in READABLE_VERSIONS:
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise TextclfError(
            f"{source}: checkpoint format version {version!r} is not supported (this textclf reads {readable})"
        )
    encoder = config.get("encoder")
    name = encoder.get("class_path") if isinstance(encoder, dict) else None
    if name not in ENCODERS:
        known = ", ".join(sorted({class_path(c) for c in ENCODERS.values()}))
        raise TextclfError(f"{source}: checkpoint names an unknown encoder {name!r} (textclf's encoders: {known})")


def check_compatible(config: dict[str, Any], labels: list[str], vocab: Vocabulary, source: str | Path) -> None:
    """Refuse weights whose labels or vocabulary (a ``textclf`` section) differ from a model's.

    Raises:
        TextclfError: naming ``source`` and both label lists, or the vocabulary sizes.
    """
    theirs = [str(label) for label in config.get("labels", labels)]
    if theirs != labels:
        raise TextclfError(
            f"{source} was trained with the labels {theirs} (in this order) but the data gives {labels}; "
            "use the data (and labels order) it was trained with, or textclf evaluate"
        )
    tokens = config.get("vocab")
    if tokens is not None and list(tokens) != vocab.tokens:
        raise TextclfError(
            f"{source} has a vocabulary of {len(tokens)} words that differs from the data's ({len(vocab)} words): "
            "the data must be numericalised as in training (same files and settings), or use textclf evaluate"
        )


def read_vocabulary(path: str | Path, tokenizer: TokenizerMode | None = None) -> tuple[Vocabulary, TokenizerMode]:
    """The vocabulary stored in a checkpoint and its tokenizer mode, which ``tokenizer`` (if set) must equal."""
    config = read_checkpoint(path)["textclf"]
    mode = Tokenizer.from_dict(config["tokenizer"]).mode
    if tokenizer not in (None, mode):
        raise TextclfError(
            f"data.tokenizer is {tokenizer!r} but {path} was trained with the {mode!r} tokenizer, which its "
            "vocabulary needs: leave data.tokenizer unset"
        )
    return Vocabulary(config["vocab"], config["vocab_trained_size"]), mode


# ---- writing and rebuilding -----------------------------------------------------------------------------------


def encoder_config(encoder: Encoder) -> dict[str, Any]:
    """``{"class_path", "init_args"}`` of an encoder, as stored in checkpoints."""
    return {"class_path": class_path(type(encoder)), "init_args": encoder.config()}


def build_encoder(config: dict[str, Any], *, drop_input_size: bool = False) -> Encoder:
    """An (untrained) encoder from :func:`encoder_config`, its class taken from :data:`ENCODERS` only.

    Args:
        config: ``{"class_path", "init_args"}``.
        drop_input_size: leave ``input_size`` out, so the model builds the encoder for its own embedding size.
    """
    encoder_class = ENCODERS.get(config.get("class_path", ""))
    if encoder_class is None:
        raise TextclfError(f"checkpoint names an unknown encoder {config.get('class_path')!r}")
    init_args = {k: v for k, v in config["init_args"].items() if not (drop_input_size and k == "input_size")}
    return encoder_class(**init_args)


def model_config(model: Classifier) -> dict[str, Any]:
    """The ``textclf`` section of ``model``'s checkpoints (plain types only)."""
    return {
        "format_version": FORMAT_VERSION,
        "vocab": model.vocab.tokens,
        "vocab_trained_size": model.vocab.trained_size,
        "labels": model.labels,
        "tokenizer": model.tokenizer.to_dict(),
        "encoder": encoder_config(model.encoder),
        "model": {
            "embedding_dim": model.embedding_dim,
            "embedding_mode": model.embedding_mode,
            "embedding_dropout": model.embedding_dropout.p,
            "dropout": model.dropout.p,
            "multi_label": model.task.multi_label,
        },
    }


def build_model(model_class: Callable[..., ModelT], config: dict[str, Any]) -> ModelT:
    """An untrained model of ``model_class`` from a ``textclf`` section (see :func:`model_config`)."""
    check_config(config)
    model = model_class(
        build_encoder(config["encoder"]),
        vocab=Vocabulary(config["vocab"], config["vocab_trained_size"]),
        labels=config["labels"],
        tokenizer=Tokenizer.from_dict(config["tokenizer"]),
        **config["model"],
    )
    model.has_pretrained = True
    return model


def load_model(
    model_class: Callable[..., ModelT],
    path: str | Path,
    map_location: str | torch.device | None = "cpu",
    strict: bool = True,
) -> ModelT:
    """A trained model from a checkpoint file alone, in eval mode.

    Raises:
        TextclfError: see :func:`read_checkpoint`; also when the weights do not fit the model the section describes.
    """
    checkpoint = read_checkpoint(path, map_location)
    model = build_model(model_class, checkpoint["textclf"])
    try:
        model.load_state_dict(checkpoint["state_dict"], strict=strict)
    except RuntimeError as e:  # "Error(s) in loading state_dict ...:\n\tsize mismatch for ..."
        lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [""]
        reason = lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]
        raise TextclfError(f"{path}: checkpoint does not fit its model ({reason})") from None
    model.eval()
    return model
