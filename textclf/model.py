"""TextClassifier: backbone (embed -> dropout -> encode, pooled over time) -> dropout -> head, and a task.

The head is a linear layer, or a context head (:mod:`textclf.context`) that classifies each text of a group with the
texts around it (Lee & Dernoncourt 2016; docs/sequential.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric, MetricCollection

from textclf import checkpoint, inference, sequence_inference
from textclf.context import Context, context_config, head_for
from textclf.data.groups import Windowing
from textclf.embedding import EmbeddingMode, WordEmbedding, embedding_size
from textclf.encoders import Encoder
from textclf.errors import TextclfError
from textclf.fit_setup import FitSetup
from textclf.multilabel import Thresholds
from textclf.numbers import DropoutRate, NonNegativeFloat, NonNegativeInt, PositiveInt
from textclf.renamed import renamed
from textclf.tasks import Task
from textclf.tokenize import Tokenizer
from textclf.vocab import Vocabulary

if TYPE_CHECKING:
    from textclf.data.base import TextDataModule

log = logging.getLogger(__name__)

BACKBONE = ("embedding.", "encoder.")  # parameter-name prefixes of the backbone (all but the head)
ClassWeights = list[float] | dict[str, float] | Literal["balanced"] | None


class TextClassifier(FitSetup):
    """A text classifier over static word vectors and an encoder that pools states over time.

    The vocabulary, label names and tokenizer travel inside every checkpoint (:mod:`textclf.checkpoint`), so
    ``TextClassifier.load_from_checkpoint(path).predict(texts)`` needs neither the data nor the recipe.

    Args:
        encoder: sequence-to-vector encoder, e.g. ``RNNEncoder(cell="lstm", pooling="max")``; its input size is
            set from the embedding. With ``init_from``, ``textclf fit`` and :meth:`for_data` take the checkpoint's.
        context: a context head instead of the linear one: ``FeedForwardContext(d1, d2)`` (the paper's),
            ``RNNContext(...)`` or ``NoContext()``; every text of a group (conversation, document) is then classified
            with the texts around it, and the data must have groups (docs/sequential.md).
        window: with a context head: texts scored per window; groups are cut into windows (:mod:`textclf.data.groups`).
        history: with a context head: texts read before each window (and after it for a bidirectional head);
            default ``d1 + d2`` for the feed-forward head (exact), 16 for an RNN head (truncated history).
        vocab: the vocabulary (from the data module).
        labels: class names in index order (from the data module).
        tokenizer: the tokenizer the vocabulary was built with (from the data module).
        embedding_dim: vector size; from ``pretrained_embeddings`` when those are given (another size is an error).
        embedding_mode: ``static`` (frozen vectors), ``non-static`` (fine-tuned), ``multichannel`` (a frozen and
            a fine-tuned copy, concatenated) or ``random`` (no pretrained vectors).
        pretrained_embeddings: ``(vocab_size, embedding_dim)`` initial vectors (from the data module).
        embedding_dropout: dropout on the word vectors.
        dropout: dropout on the pooled text vector, before the linear head.
        class_weights: loss weights: a list in class order, a ``{label: weight}`` dict (others 1.0), or
            ``"balanced"`` (n / (classes * count), from the training label counts). Multi-label: the weight of each
            label's positive examples in the binary cross-entropy (``pos_weight``); ``"balanced"`` gives
            negatives / positives of each label.
        optimizer: optimizer factory, e.g. ``torch.optim.Adam`` or, in YAML, a ``class_path`` with ``init_args``.
        lr_scheduler: optional learning-rate scheduler factory.
        lr_scheduler_monitor: metric a ``ReduceLROnPlateau`` scheduler watches.
        init_from: fine-tune from this checkpoint: when training starts, its word vectors are copied row by token
            (words it lacks keep their vectors-file row or the documented init), its encoder (same class and
            shapes) and, when the labels are the same set, its head; other labels get a new head. Pair it with
            the data module's ``init_vocab_from`` (see docs/finetune.md).
        freeze_backbone_epochs: keep the backbone (embeddings and encoder) frozen for the first N epochs (only the
            head trains); see :class:`~textclf.finetune.BackboneFreeze`.
        backbone_lr_scale: learning rate of the backbone as a fraction of the optimizer's (the head's).
        multi_label: every text has a set of labels: a sigmoid per label with binary cross-entropy instead of a
            softmax (from the data module's ``multi_label``); see :mod:`textclf.tasks`.
        thresholds: multi-label only: label ``j`` is predicted when its probability is >= its threshold. A number
            for all labels, a list in label order, a ``{label: threshold}`` dict (others 0.5), or ``"tune"``: after
            every validation epoch, each label's threshold is set to the one maximising its F1 on the validation
            split. The thresholds travel in the checkpoint (see docs/multi-label.md).
        freeze_body_epochs: deprecated name of ``freeze_backbone_epochs``.
        body_lr_scale: deprecated name of ``backbone_lr_scale``.
    """

    def __init__(
        self,
        encoder: Encoder | None = None,
        *,
        context: Context | None = None,
        window: PositiveInt = 64,
        history: NonNegativeInt | None = None,
        vocab: Vocabulary | Sequence[str],
        labels: Sequence[str],
        tokenizer: Tokenizer | None = None,
        embedding_dim: PositiveInt | None = None,
        embedding_mode: EmbeddingMode = "non-static",
        pretrained_embeddings: Tensor | None = None,
        embedding_dropout: DropoutRate = 0.25,
        dropout: DropoutRate = 0.5,
        class_weights: ClassWeights = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        lr_scheduler_monitor: str = "val/loss",
        init_from: str | None = None,
        freeze_backbone_epochs: NonNegativeInt = 0,
        backbone_lr_scale: NonNegativeFloat = 1.0,
        multi_label: bool = False,
        thresholds: Thresholds = 0.5,
        freeze_body_epochs: int | None = None,
        body_lr_scale: float | None = None,
    ) -> None:
        super().__init__()
        freeze_backbone_epochs = renamed("freeze_body_epochs", freeze_body_epochs, freeze_backbone_epochs, 0)
        backbone_lr_scale = renamed("body_lr_scale", body_lr_scale, backbone_lr_scale, 1.0)
        if freeze_backbone_epochs < 0 or backbone_lr_scale < 0:
            raise TextclfError(
                f"freeze_backbone_epochs ({freeze_backbone_epochs}) and backbone_lr_scale ({backbone_lr_scale}) "
                "must be >= 0"
            )
        if encoder is None:
            hint = "; with model.init_from, textclf fit and TextClassifier.for_data take the checkpoint's"
            raise TextclfError(f"set model.encoder{hint}")
        self.save_hyperparameters(ignore=["encoder", "context", "vocab", "tokenizer", "pretrained_embeddings",
                                          "optimizer", "lr_scheduler", "freeze_body_epochs",
                                          "body_lr_scale"])  # fmt: skip
        self.vocab = vocab if isinstance(vocab, Vocabulary) else Vocabulary(list(vocab))
        self.labels = [str(label) for label in labels]
        self.tokenizer = tokenizer or Tokenizer()
        self.task = Task.create(self.labels, multi_label)
        if embedding_mode == "random":
            pretrained_embeddings = None
        self.embedding_dim = embedding_size(embedding_dim, pretrained_embeddings)
        self.embedding_mode: EmbeddingMode = embedding_mode
        self.has_pretrained = pretrained_embeddings is not None
        self.embedding = WordEmbedding(
            len(self.vocab),
            self.embedding_dim,
            mode=embedding_mode,
            pretrained=pretrained_embeddings,
            trained_rows=self.vocab.trained_size,
        )
        encoder.build(self.embedding.output_size)
        self.encoder = encoder
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.dropout = nn.Dropout(dropout)
        self.head, cut = head_for(context, encoder.output_size, len(self.labels), window, history)
        self.windowing = None if cut is None else Windowing(*cut)  # how the data module cuts groups into windows
        derived = {  # plain values for loggers' hparams.yaml, beside the arguments saved above
            "labels": self.labels,
            "vocab_size": len(self.vocab),
            "tokenizer": {**self.tokenizer.to_dict(), "phrases": len(self.tokenizer.phrases)},  # a count, as vocab_size
            "encoder": checkpoint.encoder_config(encoder),
            "context": None if context is None else context_config(context),
            "freeze_backbone_epochs": freeze_backbone_epochs,
            "backbone_lr_scale": backbone_lr_scale,
        }
        self.save_hyperparameters({**self.hparams, **derived})
        self.class_weights = class_weights
        self.optimizer_factory = optimizer
        self.lr_scheduler_factory = lr_scheduler
        self.lr_scheduler_monitor = lr_scheduler_monitor
        static_weights = None if class_weights == "balanced" else self.task.class_weights(class_weights)
        self.register_buffer("loss_weight", static_weights, persistent=False)
        self.tune_thresholds = thresholds == "tune"
        initial = self.task.initial_thresholds(thresholds)
        if initial is not None:  # kept in the state dict, so checkpoints carry tuned thresholds
            self.register_buffer("decision_thresholds", initial)
        self.eval_metrics = nn.ModuleDict({stage: self.task.metric() for stage in ("val", "test")})
        self.eval_losses = nn.ModuleDict({stage: MeanMetric() for stage in ("val", "test")})
        self.init_from = init_from
        self.freeze_backbone_epochs = freeze_backbone_epochs
        self.backbone_lr_scale = backbone_lr_scale
        self._backbone = {n for n, p in self.named_parameters() if p.requires_grad and n.startswith(BACKBONE)}
        self._initialised_from: str | None = None

    @classmethod
    def for_data(cls, data: TextDataModule, encoder: Encoder | None = None, **kwargs: Any) -> TextClassifier:
        """A classifier sized for ``data``: its vocabulary, labels, tokenizer and pretrained vectors.

        ``init_from`` defaults to the data module's ``init_vocab_from`` (the checkpoint it took its vocabulary
        from); with ``init_from``, the checkpoint's encoder settings (and, without vectors, its embedding size) are
        used unless stated. The checkpoint's weights are copied when training starts (:meth:`setup`).
        """
        kwargs.setdefault("init_from", data.init_vocab_from)
        embeddings = data.embeddings
        if kwargs["init_from"]:  # settings the checkpoint gives when they are not stated
            config = checkpoint.read_checkpoint(kwargs["init_from"])["textclf"]
            if encoder is None:
                encoder = checkpoint.build_encoder(config["encoder"], drop_input_size=True)
            if embeddings is None:
                kwargs.setdefault("embedding_dim", int(config["model"]["embedding_dim"]))
        return cls(
            encoder,
            vocab=data.vocab,
            labels=data.labels,
            tokenizer=data.tokenizer,
            pretrained_embeddings=embeddings,
            multi_label=data.multi_label,
            **kwargs,
        )

    @property
    def multi_label(self) -> bool:
        """Whether each text has a set of labels (see :attr:`task`)."""
        return self.task.multi_label

    @property
    def backbone(self) -> nn.Module:
        """The embeddings and the encoder: (batch, seq) ids -> (batch, encoder.output_size) text vectors."""
        return nn.ModuleList([self.embedding, self.encoder])

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """The backbone's parameters that train (not the frozen vectors of ``static``/``multichannel`` modes)."""
        return (p for n, p in self.named_parameters() if n in self._backbone)

    # ---- forward and steps -------------------------------------------------------------------------------

    def forward(self, token_ids: Tensor, lengths: Tensor, segments: Tensor | None = None) -> Tensor:
        """Class scores: token_ids (batch, seq), lengths (batch,) -> logits (batch, num_classes).

        With a context head, ``segments`` (batch,) says which rows form one ordered segment (consecutive rows; the
        default is one segment of all rows); context never crosses segments. Without one, it is ignored.
        """
        embedded = self.embedding_dropout(self.embedding(token_ids))  # (batch, seq, embedding size)
        encoded = self.dropout(self.encoder(embedded, lengths))  # (batch, encoder.output_size)
        if self.windowing is None:
            return self.head(encoded)  # (batch, num_classes)
        return self.head(encoded, token_ids.new_zeros(len(token_ids)) if segments is None else segments)

    def _shared_step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        logits, targets = self(batch["token_ids"], batch["lengths"], batch.get("segments")), batch["targets"]
        if self.windowing is not None:  # windows of groups: each text is scored by one window only
            logits, targets = logits[batch["scored"]], targets[batch["scored"]]
        loss = self.task.loss(logits, targets, self.loss_weight)
        size = len(targets)
        if stage == "train":
            self.log("train/loss", loss, batch_size=size, prog_bar=True)
            return loss
        mean_loss: MeanMetric = self.eval_losses[stage]  # type: ignore[assignment]
        mean_loss.update(loss, weight=size)  # states summed across ranks: Lightning's sync_dist mean rounds counts
        self.log(f"{stage}/loss", mean_loss, prog_bar=True)
        self._metric(stage).update(self.task.probabilities(logits), targets)
        return loss

    def _metric(self, stage: str) -> Metric | MetricCollection:
        return self.eval_metrics[stage]  # type: ignore[return-value]

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """The task's loss on one training batch."""
        return self._shared_step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Loss on one validation batch; the metric set is updated and logged at the end of the epoch."""
        self._shared_step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Loss on one test batch; the metric set is updated and logged at the end of the epoch."""
        self._shared_step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        """Log the metric set over the validation split (multi-label with ``thresholds="tune"``: tune first)."""
        self._log_scores("val")

    def on_test_epoch_end(self) -> None:
        """Log the metric set over the test split."""
        self._log_scores("test")

    def _log_scores(self, stage: str) -> None:
        metric = self._metric(stage)
        members = metric.values() if isinstance(metric, MetricCollection) else [metric]
        if not any(m.update_called for m in members):
            return
        thresholds = self._buffers.get("decision_thresholds")
        scores = self.task.compute(metric, thresholds, tune=stage == "val" and self.tune_thresholds)
        metric.reset()
        self.log_dict({f"{stage}/{name}": value for name, value in scores.items()}, prog_bar=True, sync_dist=True)

    # ---- prediction on raw texts -------------------------------------------------------------------------

    def label_thresholds(self) -> np.ndarray | None:
        """(num_labels,) decision thresholds of a multi-label model; None for single-label models."""
        thresholds = self._buffers.get("decision_thresholds")
        return None if thresholds is None else thresholds.cpu().numpy()

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256, **groups: Any) -> np.ndarray:
        """Probabilities ``(len(texts), num_classes)`` in input order (:func:`textclf.inference.predict_proba`).

        With a context head: ``groups=`` each text's group (default: all one group) and ``order=`` its position
        in the group (default: input order); see :func:`textclf.sequence_inference.predict_groups`.
        """
        if self.windowing is not None:
            return sequence_inference.predict_groups(self, texts, batch_size=batch_size, **groups)
        if groups:
            raise TextclfError(f"{', '.join(groups)}: only a model with a context head reads groups")
        return inference.predict_proba(self, texts, batch_size)

    def predict(self, texts: Sequence[str], batch_size: int = 256, **groups: Any) -> list[Any]:
        """The label of each text, in input order (multi-label models: a list of labels, most probable first)."""
        if len(texts) == 0:
            return []
        return self.task.decide(self.predict_proba(texts, batch_size, **groups), self.label_thresholds())

    def explain(self, texts: Sequence[str], **options: Any) -> list[dict[str, Any]]:
        """Token attributions of each text, a dict per text (Integrated Gradients; :func:`textclf.explain.explain`).

        Options: ``target`` (label, index or one per text), ``n_steps`` (50), ``max_length``, ``device``. Needs the
        ``explain`` extra (Captum); see docs/explain.md.
        """
        from textclf.explain import explain

        return explain(self, texts, **options)

    # ---- self-contained checkpoints ----------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint_dict: dict[str, Any]) -> None:
        """Store the ``textclf`` section in the checkpoint (:func:`textclf.checkpoint.add_section`)."""
        checkpoint.add_section(self, checkpoint_dict)

    def on_load_checkpoint(self, checkpoint_dict: dict[str, Any]) -> None:
        """Before Lightning restores weights (``--ckpt_path``): refuse a checkpoint of other labels or vocabulary.

        Weights of the same shapes would load, and score every text against the wrong class or word rows.
        """
        source = getattr(self._trainer, "ckpt_path", None) or "the checkpoint" if self._trainer else "the checkpoint"
        checkpoint.check_restorable(self, checkpoint_dict, source)  # an older format's weights are renamed first

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: str | Path, map_location: str | torch.device | None = "cpu", strict: bool = True
    ) -> TextClassifier:
        """A trained model from a checkpoint file alone, in eval mode (see :func:`textclf.checkpoint.load_model`)."""
        return checkpoint.load_model(cls, checkpoint_path, map_location, strict)
