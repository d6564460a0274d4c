"""Fine-tuning from a trained checkpoint: copy its weights into a new model, and freeze the backbone for a while.

The data module numericalises a new corpus with the checkpoint's vocabulary (kept, or extended with the new
training words: :func:`textclf.vocab.merge_vocabularies`) when it prepares the data; the model then copies, once,
in its ``setup("fit")`` hook, the checkpoint's word vectors row by token, its encoder (same class and parameter
shapes) and its head when the label set is the same (:func:`init_from_checkpoint`). :class:`BackboneFreeze`
keeps the backbone (embeddings and encoder) frozen for the first epochs and trains it at a lower learning rate.
See docs/finetune.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import torch
from lightning.pytorch.callbacks import BackboneFinetuning
from torch import Tensor
from torch.optim import Optimizer

from textclf.checkpoint import check_weights, class_path, read_checkpoint
from textclf.classifier import Classifier
from textclf.embedding import channel_tables
from textclf.errors import TextclfError

log = logging.getLogger(__name__)


def init_from_checkpoint(model: Classifier, path: str | Path) -> str:
    """Copy word vectors (by token), the encoder and, for the same label set, the head from the checkpoint ``path``.

    Returns:
        A one-line summary of what was copied, also logged.

    Raises:
        TextclfError: the checkpoint cannot be read (:func:`textclf.checkpoint.read_checkpoint`), its weights do
            not fit the model it describes (:func:`~textclf.checkpoint.check_weights`), or its embedding size,
            channels or encoder do not fit ``model`` (the message says which and what to change).
    """
    checkpoint = read_checkpoint(path)
    check_weights(type(model), checkpoint, path)  # on the meta device: a section claiming huge sizes costs nothing
    config, state = checkpoint["textclf"], checkpoint["state_dict"]
    vectors = _init_embedding(model, path, config, state)
    _init_encoder(model, path, config, state)
    head = _init_head(model, config, state)
    model.has_pretrained = True
    summary = f"initialised from {path}: {vectors}, the encoder, {head}"
    log.info(summary)
    return summary


def _init_embedding(model: Classifier, path: str | Path, config: dict[str, Any], state: dict[str, Tensor]) -> str:
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
    tables = channel_tables(state, config["model"]["embedding_mode"], int(config["vocab_trained_size"]))
    old_index = {token: i for i, token in enumerate(config["vocab"])}
    pairs = [(i, old_index[t]) for i, t in enumerate(model.vocab.tokens) if i > 0 and t in old_index]
    new_rows = torch.tensor([i for i, _ in pairs], dtype=torch.long)
    old_rows = torch.tensor([j for _, j in pairs], dtype=torch.long)
    missing = torch.ones(len(model.vocab), dtype=torch.bool)
    missing[new_rows] = False
    missing[0] = False
    embedding = model.embedding
    channels: list[Literal["tuned", "frozen"]] = ["tuned"] if embedding.tuned is not None else []
    channels += ["frozen"] if embedding.frozen_channel else []
    for channel in channels:  # the frozen channel last: in multichannel mode its untrained rows are tuned's too
        source = tables.get(channel, tables.get("frozen" if channel == "tuned" else "tuned"))
        assert source is not None
        table = embedding.full_table(channel)
        table[new_rows] = source[old_rows]
        if not model.has_pretrained and bool(missing.any()):  # no vectors file: the documented init
            a = math.sqrt(3.0) * float(source[2:].std()) if len(source) > 2 else 0.25
            table[missing] = torch.empty(int(missing.sum()), table.shape[1]).uniform_(-a, a)
        embedding.set_full_table(channel, table)
    new_words = int(missing.sum())
    origin = "vectors file or its init for missing words" if model.has_pretrained else "U(-a, a) draws"
    return f"{len(pairs):,} word vectors ({new_words:,} new words from the {origin})"


def _init_encoder(model: Classifier, path: str | Path, config: dict[str, Any], state: dict[str, Tensor]) -> None:
    encoder = model.encoder
    own_path = class_path(type(encoder))
    ckpt = config["encoder"]
    settings = ", ".join(f"{k}={v}" for k, v in ckpt["init_args"].items() if k != "input_size")
    if ckpt["class_path"] != own_path:
        raise TextclfError(
            f"{path} has encoder {ckpt['class_path']}({settings}), not {own_path}: "
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


def _init_head(model: Classifier, config: dict[str, Any], state: dict[str, Tensor]) -> str:
    old = [str(label) for label in config["labels"]]
    if sorted(old) != sorted(model.labels) or len(set(old)) != len(old):
        log.info("labels %s differ from the checkpoint's %s: training a new head", model.labels, old)
        return "a new head (other labels)"
    multi_label = model.task.multi_label
    if bool(config["model"].get("multi_label", False)) != multi_label:
        kinds = ("single-label", "multi-label")
        log.info("the checkpoint is %s, this model %s: training a new head", kinds[not multi_label], kinds[multi_label])
        return "a new head (other kind of labels)"
    if config.get("context") is not None or not isinstance(model.head, torch.nn.Linear):
        if config.get("context") != getattr(model, "hparams", {}).get("context") or old != model.labels:
            log.info("the checkpoint's head and this model's differ (context head or label order): training a new head")
            return "a new head (another head)"
        model.head.load_state_dict({k.removeprefix("head."): v for k, v in state.items() if k.startswith("head.")})
        return "the context head (same labels and settings)"
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


def _constant(epoch: int) -> float:
    return 1.0


class BackboneFreeze(BackboneFinetuning):
    """Lightning's ``BackboneFinetuning``, with a constant backbone learning rate and frozen rows left frozen.

    The backbone (``pl_module.backbone``: the embeddings and the encoder) is frozen before training; at epoch
    ``unfreeze_at_epoch`` its parameters that train (not the static channel of ``multichannel`` vectors nor the
    rows added from a vectors file) join the optimizer as a second parameter group with learning rate
    ``lr_scale`` x the head's, and keep that ratio. A run resumed after that epoch trains them again.

    Args:
        unfreeze_at_epoch: epochs the backbone stays frozen (0: from the start, at the lower learning rate).
        lr_scale: backbone learning rate as a fraction of the head's (the optimizer's first group).
    """

    def __init__(self, unfreeze_at_epoch: int = 0, lr_scale: float = 1.0) -> None:
        super().__init__(
            unfreeze_backbone_at_epoch=unfreeze_at_epoch,
            lambda_func=_constant,
            backbone_initial_ratio_lr=lr_scale,
            should_align=False,
        )

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Freeze before training only (validate/test after fit leave the model as training left it)."""
        if stage == "fit":
            super().setup(trainer, pl_module, stage)

    def freeze_before_training(self, pl_module: Any) -> None:
        """Freeze the backbone parameters that train."""
        for parameter in _trainable(pl_module):
            parameter.requires_grad_(False)
        if self.unfreeze_backbone_at_epoch > 0:
            log.info("embeddings and encoder frozen for the first %d epoch(s)", self.unfreeze_backbone_at_epoch)

    def finetune_function(self, pl_module: Any, epoch: int, optimizer: Optimizer) -> None:
        """At ``unfreeze_at_epoch``: unfreeze and add the backbone group; later (a resumed run): unfreeze only."""
        if epoch < self.unfreeze_backbone_at_epoch:
            return
        params = list(_trainable(pl_module))
        for parameter in params:
            parameter.requires_grad_(True)
        params = self.filter_on_optimizer(optimizer, params)
        if params:
            lr = optimizer.param_groups[0]["lr"] * self.backbone_initial_ratio_lr
            optimizer.add_param_group({"params": params, "lr": lr})
            self.previous_backbone_lr = lr


def _trainable(pl_module: Any) -> Iterable[torch.nn.Parameter]:
    return pl_module.backbone_parameters()
