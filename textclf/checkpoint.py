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
    model                {"embedding_dim", "embedding_mode", "embedding_dropout", "dropout", "multi_label"} (+ "window",
    context              "history") and {"class_path", "init_args"} of the context head, when the model has one

Files are read with ``torch.load(weights_only=True)``: plain containers and tensors only, never a pickled object.
Encoder and context classes come from registries of textclf's own (:data:`ENCODERS`, ``context.CONTEXTS``).
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from textclf.checkpoint_schema import build_error, check_section, check_state_dict
from textclf.classifier import Classifier
from textclf.context import build_context, context_config
from textclf.embedding import upgrade_format_1
from textclf.encoders import BagOfEmbeddingsEncoder, Encoder, RNNEncoder
from textclf.errors import TextclfError
from textclf.numbers import plain_value
from textclf.tokenize import Tokenizer, TokenizerMode
from textclf.vocab import Vocabulary

ModelT = TypeVar("ModelT", bound=Classifier)

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Format 2: frozen word-vector rows stored once, as float16 (:class:`~textclf.embedding.WordEmbedding`). Format 1
(float32, the untrained rows twice in multichannel mode) is read by :func:`upgrade`, values unchanged."""

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
            textclf checkpoint, of a format version this textclf cannot read, or with a ``textclf`` section of wrong
            keys, types or ranges. The message names the file. Whether the weights fit the model the section
            describes is :func:`check_weights`' job, which the callers that build a model call.
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
    if stat.st_size == 0:
        raise TextclfError(f"{path}: not a readable checkpoint (the file is empty, 0 bytes)")
    checkpoint = _load(path, map_location)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("textclf"), dict):
        raise TextclfError(f"{path}: not a textclf checkpoint (no 'textclf' section)")
    check_config(checkpoint["textclf"], path)
    check_state_dict(checkpoint.get("state_dict"), path)
    upgrade(checkpoint)
    _READ.clear()
    _READ[key] = checkpoint
    return checkpoint


def _load(path: Path, map_location: str | torch.device | None) -> Any:
    """``torch.load(weights_only=True)`` of ``path``, its failures as one-line TextclfErrors naming the file."""
    if not zipfile.is_zipfile(path):  # what torch.save (and so Lightning) has written since torch 1.6
        raise TextclfError(f"{path}: not a readable checkpoint (not a torch zip archive; the file may be truncated)")
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of a file it then refuses
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's message advises retrying with weights_only=False: not for a file from an unknown source
        reason = "UnpicklingError: not plain tensors and containers"
        if "Unsupported global" in str(e) or "GLOBAL" in str(e):
            reason = "UnpicklingError: it holds Python objects, which textclf never unpickles"
        raise TextclfError(f"{path}: not a readable checkpoint ({reason})") from None
    except Exception as e:
        first = (str(e).splitlines() or [""])[0].split(". ")[0]
        foreign = "enforce fail" in str(e) or "data.pkl" in str(e)  # torch's reader on a zip it did not write
        reason = "a zip archive that torch.save did not write" if foreign else f"{type(e).__name__}: {first}"
        hint = "" if foreign else "; the file may be truncated"
        raise TextclfError(f"{path}: not a readable checkpoint ({reason}){hint}") from None


def upgrade(checkpoint: dict[str, Any]) -> None:
    """Bring the weights of an older format's checkpoint (a dict as read) to today's names, in place.

    Values and types are kept (format 1's float32 frozen rows stay float32), so an old checkpoint predicts, and
    resumes, exactly as it did. Called by :func:`read_checkpoint` and before Lightning restores a checkpoint.
    """
    section, state = checkpoint.get("textclf"), checkpoint.get("state_dict")
    if isinstance(section, dict) and section.get("format_version") == 1 and isinstance(state, dict):
        checkpoint["state_dict"] = upgrade_format_1(state)


def check_restorable(model: Classifier, checkpoint: dict[str, Any], source: str | Path) -> None:
    """Before Lightning restores ``checkpoint`` into ``model`` (``--ckpt_path``): upgrade it, refuse a misfit.

    Raises:
        TextclfError: its labels or vocabulary differ from the model's (:func:`check_compatible`), or its weights
            do not fit (:func:`check_state_shapes`); the message names ``source``.
    """
    check_compatible(checkpoint.get("textclf", {}), model.labels, model.vocab, source)
    upgrade(checkpoint)
    check_state_shapes(model, checkpoint.get("state_dict", {}), source)


def check_config(config: dict[str, Any], source: str | Path = "checkpoint") -> None:
    """Refuse a ``textclf`` section textclf did not write: see :func:`textclf.checkpoint_schema.check_section`.

    Raises:
        TextclfError: an unknown format version, an unregistered encoder, a missing key or one of the wrong type
            or range; the message names ``source`` and the key.
    """
    check_section(config, source, READABLE_VERSIONS, ENCODERS)


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


def read_vocabulary(path: str | Path, tokenizer: TokenizerMode | None = None) -> tuple[Vocabulary, Tokenizer]:
    """The vocabulary stored in a checkpoint and its tokenizer, whose mode ``tokenizer`` (if set) must equal."""
    config = read_checkpoint(path)["textclf"]
    trained = Tokenizer.from_dict(config["tokenizer"])  # checked by read_checkpoint
    if tokenizer not in (None, trained.mode):
        needs = f"{path} was trained with the {trained.mode!r} tokenizer, which its vocabulary needs"
        needs += ": unset data.tokenizer"
        raise TextclfError(f"data.tokenizer is {tokenizer!r} but {needs}")
    return Vocabulary(config["vocab"], config["vocab_trained_size"]), trained


# ---- writing and rebuilding -----------------------------------------------------------------------------------


def encoder_config(encoder: Encoder) -> dict[str, Any]:
    """``{"class_path", "init_args"}`` of an encoder, as stored in checkpoints."""
    return {"class_path": class_path(type(encoder)), "init_args": encoder.config()}


def build_encoder(
    config: dict[str, Any], *, drop_input_size: bool = False, source: str | Path = "checkpoint"
) -> Encoder:
    """An (untrained) encoder from :func:`encoder_config`, its class taken from :data:`ENCODERS` only.

    Args:
        config: ``{"class_path", "init_args"}``.
        drop_input_size: leave ``input_size`` out, so the model builds the encoder for its own embedding size.
        source: the checkpoint, named in errors.

    Raises:
        TextclfError: the class is not registered, or its settings are refused by the encoder.
    """
    encoder_class = ENCODERS.get(config.get("class_path", ""))
    if encoder_class is None:
        raise TextclfError(f"{source}: checkpoint names an unknown encoder {config.get('class_path')!r}")
    init_args = {k: v for k, v in config["init_args"].items() if not (drop_input_size and k == "input_size")}
    try:
        return encoder_class(**init_args)
    except (TypeError, ValueError, TextclfError) as e:
        raise build_error(source, f"its encoder {config['class_path']}", e) from None


def add_section(model: Classifier, checkpoint: dict[str, Any]) -> None:
    """Complete a checkpoint Lightning is saving: its ``textclf`` section, and hyperparameters as plain numbers.

    The section is :func:`model_config`; the numbers go through :func:`textclf.numbers.plain_value`, so that the
    file loads with ``weights_only=True``.
    """
    checkpoint["textclf"] = model_config(model)
    for key in ("hyper_parameters", "datamodule_hyper_parameters"):
        if isinstance(checkpoint.get(key), dict):
            checkpoint[key] = plain_value(checkpoint[key])


def model_config(model: Classifier) -> dict[str, Any]:
    """The ``textclf`` section of ``model``'s checkpoints (plain types only)."""
    windowing = getattr(model, "windowing", None)  # a context head: its settings and windows (docs/sequential.md)
    sequence = {} if windowing is None else {"window": windowing.window, "history": windowing.before}
    return plain_value(
        {
            **({} if windowing is None else {"context": context_config(model.head)}),  # type: ignore[arg-type]
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
                **sequence,
            },
        }
    )


def build_model(
    model_class: Callable[..., ModelT], config: dict[str, Any], source: str | Path = "checkpoint"
) -> ModelT:
    """An untrained model of ``model_class`` from a ``textclf`` section (see :func:`model_config`).

    Raises:
        TextclfError: the section is refused by :func:`check_config`, or the model refuses its settings; the
            message names ``source``.
    """
    check_config(config, source)
    encoder = build_encoder(config["encoder"], source=source)
    context = {"context": build_context(config["context"], source)} if config.get("context") is not None else {}
    try:
        model = model_class(
            encoder,
            vocab=Vocabulary(config["vocab"], config["vocab_trained_size"]),
            labels=config["labels"],
            tokenizer=Tokenizer.from_dict(config["tokenizer"]),
            **context,
            **config["model"],
        )
    except (TypeError, ValueError, RuntimeError, TextclfError) as e:
        raise build_error(source, "its model settings", e) from None
    model.has_pretrained = True
    return model


def check_weights(
    model_class: Callable[..., Classifier], checkpoint: dict[str, Any], source: str | Path, strict: bool = True
) -> None:
    """Refuse weights whose names or shapes differ from those of the model the ``textclf`` section describes.

    The model is built on the ``meta`` device (no memory), so a section claiming huge sizes allocates nothing.

    Raises:
        TextclfError: naming ``source`` and the first weight that is missing, unexpected (``strict``) or of
            another shape.
    """
    with torch.device("meta"):
        skeleton: Any = build_model(model_class, checkpoint["textclf"], source)
    check_state_shapes(skeleton, checkpoint["state_dict"], source, strict)


def check_state_shapes(model: Any, state: dict[str, torch.Tensor], source: str | Path, strict: bool = True) -> None:
    """Refuse ``state`` (a checkpoint's weights) when its names or shapes differ from ``model``'s state dict.

    For Lightning's own restore (``--ckpt_path``): call it from the model's ``on_load_checkpoint``, so that a
    checkpoint whose weights do not fit is a one-line error rather than ``load_state_dict``'s traceback.

    Raises:
        TextclfError: naming ``source`` and the first weight that is missing, unexpected (``strict``) or of
            another shape.
    """
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problems = [f"size mismatch for {k}: {tuple(v.shape)} in the file, {expected[k]} in its model"
                for k, v in state.items() if k in expected and tuple(v.shape) != expected[k]]  # fmt: skip
    problems += [f"{k} is missing" for k in expected if k not in state]
    if strict:
        problems += [f"unexpected weight {k}" for k in state if k not in expected]
    if problems:
        raise TextclfError(f"{source}: checkpoint does not fit its model ({problems[0]})")


def load_model(
    model_class: Callable[..., ModelT],
    path: str | Path,
    map_location: str | torch.device | None = "cpu",
    strict: bool = True,
) -> ModelT:
    """A trained model from a checkpoint file alone, in eval mode.

    Raises:
        TextclfError: see :func:`read_checkpoint`; also when the weights do not fit the model the section describes
            (:func:`check_weights`, before any memory is allocated for the model).
    """
    checkpoint = read_checkpoint(path, map_location)
    check_weights(model_class, checkpoint, path, strict)
    model = build_model(model_class, checkpoint["textclf"], path)
    try:
        model.load_state_dict(checkpoint["state_dict"], strict=strict)
    except RuntimeError as e:  # "Error(s) in loading state_dict ...:\n\tsize mismatch for ..."
        lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [""]
        reason = lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]
        raise TextclfError(f"{path}: checkpoint does not fit its model ({reason})") from None
    model.eval()
    return model
