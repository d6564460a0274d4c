"""Fine-tuning from a trained checkpoint: read it, align its vocabulary with a new corpus, copy its weights.

The data module numericalises a new corpus with the checkpoint's vocabulary (kept, or extended with the new
training words: :func:`merge_vocabularies`); the model then copies the checkpoint's word vectors row by token,
its encoder (same class and parameter shapes) and its head when the label set is the same
(:func:`init_from_checkpoint`). See docs/finetune.md.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from textclf.errors import TextclfError
from textclf.tokenize import Tokenizer, TokenizerMode
from textclf.vocab import Vocabulary

if TYPE_CHECKING:
    from textclf.model import TextClassifier

log = logging.getLogger(__name__)


def read_checkpoint(path: str | Path, map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """A textclf checkpoint as a dict (read with ``torch.load(weights_only=True)``); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise TextclfError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        reason = f"{type(e).__name__}: {str(e).splitlines()[0]}"
        raise TextclfError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(checkpoint, dict) or "textclf" not in checkpoint:
        raise TextclfError(f"{path}: not a textclf checkpoint (no 'textclf' section)")
    return checkpoint


def read_init_checkpoint(path: str | Path) -> dict[str, Any]:
    """:func:`read_checkpoint`, also refusing a format version this textclf cannot fine-tune from."""
    from textclf.model import FORMAT_VERSION

    checkpoint = read_checkpoint(path)
    version = checkpoint["textclf"].get("format_version")
    if version != FORMAT_VERSION:
        raise TextclfError(
            f"{path}: checkpoint format version {version} is not supported (this textclf reads {FORMAT_VERSION})"
        )
    return checkpoint


def checkpoint_vocabulary(path: str | Path, tokenizer: TokenizerMode | None = None) -> tuple[Vocabulary, TokenizerMode]:
    """The vocabulary stored in a checkpoint and its tokenizer mode, which ``tokenizer`` (if set) must equal."""
    config = read_init_checkpoint(path)["textclf"]
    mode = Tokenizer.from_dict(config["tokenizer"]).mode
    if tokenizer not in (None, mode):
        raise TextclfError(
            f"data.tokenizer is {tokenizer!r} but {path} was trained with the {mode!r} tokenizer, which its "
            "vocabulary needs: leave data.tokenizer unset"
        )
    return Vocabulary(config["vocab"], config["vocab_trained_size"]), mode


def finetuning_vocabulary(base: Vocabulary, own: Vocabulary, extend: bool, name: str) -> Vocabulary:
    """``base`` (a checkpoint's vocabulary, from ``name``) kept, or extended with ``own``'s training words."""
    vocab = merge_vocabularies(base, own) if extend else base
    added = vocab.trained_size - base.trained_size
    log.info(
        "vocabulary of %s: %d words, %s", name, len(base), f"extended with {added} training words" if extend else "kept"
    )
    return vocab


def merge_vocabularies(base: Vocabulary, own: Vocabulary) -> Vocabulary:
    """``base`` extended with the training words of ``own`` that it lacks.

    Order: ``base``'s trained words, then ``own``'s training words not among them (so words that ``base`` only
    had from a vectors file become trainable when the new corpus uses them), then the words added from vectors
    files (``base``'s, then ``own``'s), which stay frozen. Every ``base`` token is kept.
    """
    tokens = list(base.tokens[: base.trained_size])
    present = set(tokens)
    for word in own.tokens[2 : own.trained_size]:
        if word not in present:
            present.add(word)
            tokens.append(word)
    trained_size = len(tokens)
    for word in base.tokens[base.trained_size :] + own.tokens[own.trained_size :]:
        if word not in present:
            present.add(word)
            tokens.append(word)
    return Vocabulary(tokens, trained_size)


def init_from_checkpoint(model: TextClassifier, path: str | Path, checkpoint: dict[str, Any]) -> str:
    """Copy word vectors (by token), the encoder and, for the same label set, the head from ``checkpoint``.

    Returns:
        A one-line summary of what was copied, also logged.
    """
    config, state = checkpoint["textclf"], checkpoint["state_dict"]
    vectors = _init_embedding(model, path, config, state)
    _init_encoder(model, path, config, state)
    head = _init_head(model, config, state)
    model.has_pretrained = True
    summary = f"initialised from {path}: {vectors}, the encoder, {head}"
    log.info(summary)
    return summary


def _init_embedding(model: TextClassifier, path: str | Path, config: dict[str, Any], state: dict[str, Tensor]) -> str:
    ckpt_dim = int(config["model"]["embedding_dim"])
    if ckpt_dim != model.embedding_dim:
        raise TextclfError(
            f"{path} has {ckpt_dim}-dimensional word vectors but this model's are {model.embedding_dim}-dimensional; "
            "use the vectors the checkpoint was trained with (data.vectors) or none"
        )
    ckpt_channels = 2 if config["model"]["embedding_mode"] == "multichannel" else 1
    if ckpt_dim * ckpt_channels != model.embedding.output_size:
        raise TextclfError(
            f"{path} has embedding_mode {config['model']['embedding_mode']!r}, whose encoder reads "
            f"{ckpt_dim * ckpt_channels}-dimensional inputs; model.embedding_mode {model.embedding_mode!r} gives "
            f"{model.embedding.output_size}: use a mode with the same number of channels"
        )
    tables = {}
    if "embedding.tuned.weight" in state:
        tables["tuned"] = torch.cat([state["embedding.tuned.weight"], state["embedding.untrained"]]).float()
    if "embedding.frozen.weight" in state:
        tables["frozen"] = state["embedding.frozen.weight"].float()
    old_index = {token: i for i, token in enumerate(config["vocab"])}
    pairs = [(i, old_index[t]) for i, t in enumerate(model.vocab.tokens) if i > 0 and t in old_index]
    new_rows = torch.tensor([i for i, _ in pairs], dtype=torch.long)
    old_rows = torch.tensor([j for _, j in pairs], dtype=torch.long)
    missing = torch.ones(len(model.vocab), dtype=torch.bool)
    missing[new_rows] = False
    missing[0] = False
    embedding = model.embedding
    with torch.no_grad():
        for channel in ("tuned", "frozen"):
            layer = getattr(embedding, channel)
            if layer is None:
                continue
            source = tables.get(channel, tables.get("frozen" if channel == "tuned" else "tuned"))
            assert source is not None
            table = layer.weight.detach().clone() if channel == "frozen" else _full_tuned_table(model)
            table[new_rows] = source[old_rows]
            if not model.has_pretrained and bool(missing.any()):  # no vectors file: the documented init
                a = math.sqrt(3.0) * float(source[2:].std()) if len(source) > 2 else 0.25
                table[missing] = torch.empty(int(missing.sum()), table.shape[1]).uniform_(-a, a)
            if channel == "frozen":
                layer.weight.copy_(table)
            else:
                layer.weight.copy_(table[: embedding.trained_rows])
                embedding.untrained.copy_(table[embedding.trained_rows :])
    new_words = int(missing.sum())
    origin = "vectors file or its init for missing words" if model.has_pretrained else "U(-a, a) draws"
    return f"{len(pairs):,} word vectors ({new_words:,} new words from the {origin})"


def _full_tuned_table(model: TextClassifier) -> Tensor:
    embedding = model.embedding
    assert embedding.tuned is not None
    return torch.cat([embedding.tuned.weight.detach(), embedding.untrained]).clone()


def _init_encoder(model: TextClassifier, path: str | Path, config: dict[str, Any], state: dict[str, Tensor]) -> None:
    encoder = model.encoder
    class_path = f"{type(encoder).__module__}.{type(encoder).__qualname__}"
    ckpt = config["encoder"]
    settings = ", ".join(f"{k}={v}" for k, v in ckpt["init_args"].items() if k != "input_size")
    if ckpt["class_path"] != class_path:
        raise TextclfError(
            f"{path} has encoder {ckpt['class_path']}({settings}), not {class_path}: "
            "leave model.encoder unset to take the checkpoint's"
        )
    ckpt_state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    own = encoder.state_dict()
    for key in [*own, *(k for k in ckpt_state if k not in own)]:
        mismatch = None
        if key not in ckpt_state:
            mismatch = f"{key} is missing from the checkpoint"
        elif key not in own:
            mismatch = f"the checkpoint has {key}, which this encoder lacks"
        elif own[key].shape != ckpt_state[key].shape:
            mismatch = f"{key} is {tuple(ckpt_state[key].shape)} there, {tuple(own[key].shape)} here"
        if mismatch:
            raise TextclfError(
                f"{path}: its encoder ({settings}) does not fit model.encoder: {mismatch}; "
                "leave model.encoder unset to take the checkpoint's"
            )
    mine = encoder.config()
    changed = {k: (v, mine.get(k)) for k, v in ckpt["init_args"].items() if mine.get(k, v) != v}
    if changed:
        differences = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items())
        log.info("encoder settings differ from %s's: %s", path, differences)
    encoder.load_state_dict(ckpt_state)


def _init_head(model: TextClassifier, config: dict[str, Any], state: dict[str, Tensor]) -> str:
    old = [str(label) for label in config["labels"]]
    if sorted(old) != sorted(model.labels) or len(set(old)) != len(old):
        log.info("labels %s differ from the checkpoint's %s: training a new head", model.labels, old)
        return "a new head (other labels)"
    if bool(config["model"].get("multi_label", False)) != model.multi_label:
        kinds = ("single-label", "multi-label")
        log.info(
            "the checkpoint is %s, this model %s: training a new head",
            kinds[not model.multi_label],
            kinds[model.multi_label],
        )
        return "a new head (other kind of labels)"
    rows = torch.tensor([old.index(label) for label in model.labels], dtype=torch.long)
    with torch.no_grad():
        model.head.weight.copy_(state["head.weight"][rows])
        model.head.bias.copy_(state["head.bias"][rows])
    return "the head (same labels)"


def refuse_overwriting(trainer: Any, path: str | Path) -> None:
    """Refuse a run whose checkpoints would land in the folder of the checkpoint it starts from."""
    folder = Path(path).resolve().parent
    for callback in getattr(trainer, "checkpoint_callbacks", []):
        dirpath = getattr(callback, "dirpath", None)
        if dirpath and Path(dirpath).resolve() == folder:
            raise TextclfError(
                f"this run would write its checkpoints into {dirpath}, beside {path} that it starts from; "
                "pick another run directory"
            )
