"""TextClassifier: embed -> dropout -> encode (pool over time) -> dropout -> linear head."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import lightning as L
import numpy as np
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from textclf.data.batching import BucketBatchSampler, TokenIdsDataset
from textclf.embedding import EmbeddingMode, WordEmbedding
from textclf.encoders import Encoder
from textclf.errors import TextclfError
from textclf.finetune import init_from_checkpoint, read_checkpoint, read_init_checkpoint, refuse_overwriting
from textclf.multilabel import CollectedOutputs, Thresholds, initial_thresholds, multilabel_scores, tune_thresholds
from textclf.tokenize import Tokenizer
from textclf.vocab import Vocabulary

if TYPE_CHECKING:
    from textclf.data.base import TextDataModule

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
BODY = ("embedding.", "encoder.")  # parameter-name prefixes of the body (all but the head)
ClassWeights = list[float] | dict[str, float] | Literal["balanced"] | None


class TextClassifier(L.LightningModule):
    """A text classifier over static word vectors and an encoder that pools states over time.

    The vocabulary, label names and tokenizer travel inside every checkpoint, so
    ``TextClassifier.load_from_checkpoint(path).predict(texts)`` needs neither the data nor the recipe.

    Args:
        encoder: sequence-to-vector encoder, e.g. ``RNNEncoder(cell="lstm", pooling="max")``; its input size is
            set from the embedding.
        vocab: the vocabulary (from the data module).
        labels: class names in index order (from the data module).
        tokenizer: the tokenizer the vocabulary was built with (from the data module).
        embedding_dim: vector size; taken from ``pretrained_embeddings`` when those are given (stating both
            with different values is an error).
        embedding_mode: ``static`` (frozen vectors), ``non-static`` (fine-tuned), ``multichannel`` (a frozen and
            a fine-tuned copy, concatenated) or ``random`` (no pretrained vectors).
        pretrained_embeddings: ``(vocab_size, embedding_dim)`` initial vectors (from the data module).
        embedding_dropout: dropout on the word vectors.
        dropout: dropout on the pooled text vector, before the linear head.
        class_weights: cross-entropy weights: a list in class order, a ``{label: weight}`` dict (others 1.0), or
            ``"balanced"`` (n / (classes * count), from the training label counts). Multi-label: the weight of each
            label's positive examples in the binary cross-entropy (``pos_weight``); ``"balanced"`` gives
            negatives / positives of each label.
        optimizer: optimizer factory, e.g. ``torch.optim.Adam`` or, in YAML, a ``class_path`` with ``init_args``.
        lr_scheduler: optional learning-rate scheduler factory.
        lr_scheduler_monitor: metric a ``ReduceLROnPlateau`` scheduler watches.
        init_from: fine-tune from this checkpoint: its word vectors are copied row by token (words it lacks keep
            their vectors-file row or the documented init), its encoder (which must have the same class and
            shapes; ``encoder`` may then be left out) and, when the labels are the same set, its head; other
            labels get a new head. Pair it with the data module's ``init_vocab_from`` (see docs/finetune.md).
        freeze_body_epochs: keep the embeddings and the encoder frozen for the first N epochs (only the head
            trains); they stay in the optimizer and train from epoch N on.
        body_lr_scale: learning rate of the embeddings and the encoder as a fraction of the optimizer's (the
            head's) learning rate, through optimizer parameter groups.
        multi_label: every text has a set of labels: a sigmoid per label with binary cross-entropy instead of a
            softmax (from the data module's ``multi_label``).
        thresholds: multi-label only: label ``j`` is predicted when its probability is >= its threshold. A number
            for all labels, a list in label order, a ``{label: threshold}`` dict (others 0.5), or ``"tune"``: after
            every validation epoch, each label's threshold is set to the one maximising its F1 on the validation
            split. The thresholds travel in the checkpoint (see docs/multi-label.md).
    """

    def __init__(
        self,
        encoder: Encoder | None = None,
        *,
        vocab: Vocabulary | Sequence[str],
        labels: Sequence[str],
        tokenizer: Tokenizer | None = None,
        embedding_dim: int | None = None,
        embedding_mode: EmbeddingMode = "non-static",
        pretrained_embeddings: Tensor | None = None,
        embedding_dropout: float = 0.25,
        dropout: float = 0.5,
        class_weights: ClassWeights = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        lr_scheduler_monitor: str = "val/loss",
        init_from: str | None = None,
        freeze_body_epochs: int = 0,
        body_lr_scale: float = 1.0,
        multi_label: bool = False,
        thresholds: Thresholds = 0.5,
    ) -> None:
        super().__init__()
        if freeze_body_epochs < 0 or body_lr_scale < 0:
            raise TextclfError(
                f"freeze_body_epochs ({freeze_body_epochs}) and body_lr_scale ({body_lr_scale}) must be >= 0"
            )
        checkpoint = read_init_checkpoint(init_from) if init_from else None
        if encoder is None:
            if checkpoint is None:
                raise TextclfError("set model.encoder (or model.init_from, to take a checkpoint's encoder)")
            settings = checkpoint["textclf"]["encoder"]  # built below for this model's embedding size
            init_args = {k: v for k, v in settings["init_args"].items() if k != "input_size"}
            encoder = _encoder_from_config({**settings, "init_args": init_args})
        if checkpoint is not None and embedding_dim is None and pretrained_embeddings is None:
            embedding_dim = int(checkpoint["textclf"]["model"]["embedding_dim"])
        self.vocab = vocab if isinstance(vocab, Vocabulary) else Vocabulary(list(vocab))
        self.labels = [str(label) for label in labels]
        self.tokenizer = tokenizer or Tokenizer()
        if embedding_mode == "random":
            pretrained_embeddings = None
        self.embedding_dim = _embedding_dim(embedding_dim, pretrained_embeddings)
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
        self.head = nn.Linear(encoder.output_size, len(self.labels))
        self.class_weights = class_weights
        self.optimizer_factory = optimizer
        self.lr_scheduler_factory = lr_scheduler
        self.lr_scheduler_monitor = lr_scheduler_monitor
        self.register_buffer("loss_weight", self._static_class_weights(), persistent=False)
        self.multi_label = multi_label
        self.tune_thresholds = multi_label and thresholds == "tune"
        if not multi_label and thresholds != 0.5:
            log.warning("thresholds=%r is ignored: it applies to multi-label models (data.multi_label)", thresholds)
        if multi_label:  # kept in the state dict, so checkpoints carry tuned thresholds
            self.register_buffer("decision_thresholds", initial_thresholds(thresholds, self.labels))
            self.metrics = nn.ModuleDict({stage: CollectedOutputs() for stage in ("val", "test")})
        else:
            self.metrics = nn.ModuleDict({stage: _metrics(len(self.labels), stage) for stage in ("val", "test")})
        self.init_from = init_from
        self.freeze_body_epochs = freeze_body_epochs
        self.body_lr_scale = body_lr_scale
        self._body = {n for n, p in self.named_parameters() if p.requires_grad and n.startswith(BODY)}
        if checkpoint is not None:
            init_from_checkpoint(self, init_from, checkpoint)  # type: ignore[arg-type]

    @classmethod
    def for_data(cls, data: TextDataModule, encoder: Encoder | None = None, **kwargs: Any) -> TextClassifier:
        """A classifier sized for ``data``: its vocabulary, labels, tokenizer and pretrained vectors.

        ``init_from`` defaults to the data module's ``init_vocab_from`` (the checkpoint it took its vocabulary from).
        """
        kwargs.setdefault("init_from", data.init_vocab_from)
        return cls(
            encoder,
            vocab=data.vocab,
            labels=data.labels,
            tokenizer=data.tokenizer,
            pretrained_embeddings=data.embeddings,
            multi_label=data.multi_label,
            **kwargs,
        )

    # ---- forward and steps -------------------------------------------------------------------------------

    def forward(self, token_ids: Tensor, lengths: Tensor) -> Tensor:
        """Class scores: token_ids (batch, seq), lengths (batch,) -> logits (batch, num_classes)."""
        embedded = self.embedding_dropout(self.embedding(token_ids))  # (batch, seq, embedding size)
        encoded = self.dropout(self.encoder(embedded, lengths))  # (batch, encoder.output_size)
        return self.head(encoded)  # (batch, num_classes)

    def probabilities(self, logits: Tensor) -> Tensor:
        """(batch, num_classes) probabilities: softmax over classes, or a sigmoid per label (multi-label)."""
        return torch.sigmoid(logits.float()) if self.multi_label else torch.softmax(logits.float(), dim=-1)

    def _shared_step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        logits = self(batch["token_ids"], batch["lengths"])
        labels = batch["labels"]
        if self.multi_label:  # labels: (batch, num_labels) multi-hot
            loss = nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weight=self.loss_weight)
        else:  # labels: (batch,) class indices
            loss = nn.functional.cross_entropy(logits, labels, weight=self.loss_weight)
        size = len(labels)
        if stage == "train":
            self.log("train/loss", loss, batch_size=size, prog_bar=True)
            return loss
        self.log(f"{stage}/loss", loss, batch_size=size, sync_dist=True, prog_bar=True)
        if self.multi_label:
            collected: CollectedOutputs = self.metrics[stage]  # type: ignore[assignment]
            collected.update(torch.sigmoid(logits.float()), labels)
        else:
            metrics: MetricCollection = self.metrics[stage]  # type: ignore[assignment]
            metrics.update(logits, labels)
            self.log_dict(metrics, batch_size=size, prog_bar=True)
        return loss

    def on_validation_epoch_end(self) -> None:
        """Multi-label: tune the thresholds (with ``thresholds="tune"``) and log the scores they give."""
        self._log_multilabel_scores("val")

    def on_test_epoch_end(self) -> None:
        """Multi-label: log the scores of the model's thresholds on the test split."""
        self._log_multilabel_scores("test")

    def _log_multilabel_scores(self, stage: str) -> None:
        if not self.multi_label:
            return
        collected: CollectedOutputs = self.metrics[stage]  # type: ignore[assignment]
        if not collected.update_called:
            return
        probs, targets = collected.compute()  # the whole split, gathered from every rank
        collected.reset()
        thresholds: Tensor = self.decision_thresholds  # type: ignore[assignment]
        if stage == "val" and self.tune_thresholds:
            thresholds.copy_(tune_thresholds(probs, targets, thresholds))
        scores = multilabel_scores(probs, targets, thresholds)
        self.log_dict({f"{stage}/{name}": value for name, value in scores.items()}, prog_bar=True, sync_dist=True)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Cross-entropy on one training batch."""
        return self._shared_step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Loss, accuracy and macro-F1 on one validation batch."""
        self._shared_step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Loss, accuracy and macro-F1 on one test batch."""
        self._shared_step(batch, "test")

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Any]:
        """Each text's input index, probabilities (batch, num_classes) and predicted label (a list, multi-label)."""
        probs = self.probabilities(self(batch["token_ids"], batch["lengths"]))
        return {"index": batch["index"], "labels": self.decide(probs.cpu().numpy()), "probs": probs}

    def label_thresholds(self) -> np.ndarray | None:
        """(num_labels,) decision thresholds of a multi-label model; None for single-label models."""
        if not self.multi_label:
            return None
        thresholds: Tensor = self.decision_thresholds  # type: ignore[assignment]
        return thresholds.cpu().numpy()

    def decide(self, probs: np.ndarray) -> list[Any]:
        """Predicted labels of (n, num_classes) probabilities, one per text.

        The most probable label, or for multi-label models the list of labels at or above their thresholds (most
        probable first).
        """
        if not self.multi_label:
            return [self.labels[i] for i in probs.argmax(axis=1)]
        above = probs >= self.label_thresholds()
        order = np.argsort(-probs, axis=1, kind="stable")
        return [[self.labels[j] for j in ranked if row[j]] for row, ranked in zip(above, order, strict=True)]

    # ---- training set-up ---------------------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        """Resolve ``class_weights="balanced"`` from the data module's training label counts."""
        if self.class_weights == "balanced":
            data = getattr(self.trainer, "datamodule", None)
            counts = getattr(data, "label_counts", None)
            if data is None or counts is None:
                raise TextclfError('class_weights="balanced" needs a data module with training label counts')
            counts_t = torch.tensor(counts, dtype=torch.float32).clamp(min=1)
            if self.multi_label:  # pos_weight: negatives / positives of each label
                weight = (len(data.split("train")) - counts_t).clamp(min=1) / counts_t
            else:
                weight = counts_t.sum() / (len(counts) * counts_t)
            self.loss_weight = weight.to(self.device)

    def on_fit_start(self) -> None:
        """Refuse the pretrained-vector modes without pretrained vectors, and writing beside ``init_from``."""
        if self.embedding_mode in ("static", "multichannel") and not self.has_pretrained:
            raise TextclfError(f"embedding_mode {self.embedding_mode!r} needs pretrained vectors: set data.vectors")
        if self.init_from:
            refuse_overwriting(self.trainer, self.init_from)

    def on_train_epoch_start(self) -> None:
        """Freeze the embeddings and the encoder during the first ``freeze_body_epochs`` epochs."""
        if self.freeze_body_epochs:
            frozen = self.current_epoch < self.freeze_body_epochs
            if frozen and self.current_epoch == 0:
                log.info("embeddings and encoder frozen for the first %d epoch(s)", self.freeze_body_epochs)
            self._set_body_trainable(not frozen)

    def on_train_end(self) -> None:
        """Leave the model trainable as built."""
        if self.freeze_body_epochs:
            self._set_body_trainable(True)

    def _set_body_trainable(self, trainable: bool) -> None:
        for name, parameter in self.named_parameters():
            if name in self._body:
                parameter.requires_grad_(trainable)

    def _static_class_weights(self) -> Tensor | None:
        weights = self.class_weights
        if weights is None or weights == "balanced":
            return None
        if isinstance(weights, dict):
            unknown = sorted(set(weights) - set(self.labels))
            if unknown:
                raise TextclfError(f"class_weights names unknown labels {unknown}; labels are {self.labels}")
            weights = [float(weights.get(label, 1.0)) for label in self.labels]
        if len(weights) != len(self.labels):
            raise TextclfError(f"class_weights has {len(weights)} values for {len(self.labels)} classes")
        return torch.tensor(weights, dtype=torch.float32)

    def configure_optimizers(self) -> Any:
        """The optimizer over trainable parameters (body and head groups when ``body_lr_scale`` != 1), and scheduler."""
        scheduled = self._body if self.freeze_body_epochs else set()  # frozen for a while, trained after
        params = [(n, p) for n, p in self.named_parameters() if p.requires_grad or n in scheduled]
        if self.body_lr_scale == 1.0:
            optimizer = self.optimizer_factory([p for _, p in params])
        else:  # two groups: body, head
            optimizer = self.optimizer_factory(
                [{"params": [p for n, p in params if n.startswith(BODY) is b]} for b in (True, False)]
            )
            optimizer.param_groups[0]["lr"] *= self.body_lr_scale
        if self.lr_scheduler_factory is None:
            return optimizer
        scheduler = self.lr_scheduler_factory(optimizer)
        config: dict[str, Any] = {"scheduler": scheduler}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = self.lr_scheduler_monitor
        return {"optimizer": optimizer, "lr_scheduler": config}

    # ---- self-contained checkpoints ----------------------------------------------------------------------

    def textclf_config(self) -> dict[str, Any]:
        """Everything needed to rebuild this model without data or recipe (plain types only)."""
        encoder = type(self.encoder)
        return {
            "format_version": FORMAT_VERSION,
            "vocab": self.vocab.tokens,
            "vocab_trained_size": self.vocab.trained_size,
            "labels": self.labels,
            "tokenizer": self.tokenizer.to_dict(),
            "encoder": {
                "class_path": f"{encoder.__module__}.{encoder.__qualname__}",
                "init_args": self.encoder.config(),
            },
            "model": {
                "embedding_dim": self.embedding_dim,
                "embedding_mode": self.embedding_mode,
                "embedding_dropout": self.embedding_dropout.p,
                "dropout": self.dropout.p,
                "multi_label": self.multi_label,
            },
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store :meth:`textclf_config` in the checkpoint."""
        checkpoint["textclf"] = self.textclf_config()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TextClassifier:
        """Rebuild an (untrained) model from :meth:`textclf_config`."""
        version = config.get("format_version")
        if version != FORMAT_VERSION:
            raise TextclfError(
                f"checkpoint format version {version} is not supported (this textclf reads {FORMAT_VERSION})"
            )
        model = cls(
            _encoder_from_config(config["encoder"]),
            vocab=Vocabulary(config["vocab"], config["vocab_trained_size"]),
            labels=config["labels"],
            tokenizer=Tokenizer.from_dict(config["tokenizer"]),
            **config["model"],
        )
        model.has_pretrained = True
        return model

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: str | Path, map_location: str | torch.device | None = "cpu", strict: bool = True
    ) -> TextClassifier:
        """Load a trained model from a checkpoint file alone (read with ``torch.load(weights_only=True)``)."""
        checkpoint = read_checkpoint(checkpoint_path, map_location)
        model = cls.from_config(checkpoint["textclf"])
        model.load_state_dict(checkpoint["state_dict"], strict=strict)
        return model.eval()

    # ---- prediction on raw texts -------------------------------------------------------------------------

    def encode_texts(self, texts: Sequence[str]) -> TokenIdsDataset:
        """Tokenise and numericalise raw texts exactly as the training data was."""
        return TokenIdsDataset.from_lists([self.vocab.encode(tokens) for tokens in self.tokenizer.batch(texts)])

    @torch.no_grad()
    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Class probabilities ``(len(texts), num_classes)``, rows in input order (per-label sigmoids, multi-label)."""
        if isinstance(texts, str):
            raise TypeError("predict_proba takes a list of texts, not one string")
        dataset = self.encode_texts(texts)
        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        was_training = self.training
        self.eval()
        for indices in BucketBatchSampler(dataset.lengths, batch_size, shuffle=False):
            batch = dataset.__getitems__(indices)
            logits = self(batch["token_ids"].to(self.device), batch["lengths"].to(self.device))
            probs[batch["index"].numpy()] = self.probabilities(logits).cpu().numpy()
        self.train(was_training)
        return probs

    def predict(self, texts: Sequence[str], batch_size: int = 256) -> list[Any]:
        """The label of each text, in input order (for multi-label models, a list: see :meth:`decide`)."""
        if len(texts) == 0:
            return []
        return self.decide(self.predict_proba(texts, batch_size))


def _metrics(num_classes: int, stage: str) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1_macro": MulticlassF1Score(num_classes, average="macro"),
        },
        prefix=f"{stage}/",
    )


def _embedding_dim(embedding_dim: int | None, pretrained: Tensor | None) -> int:
    if pretrained is None:
        if embedding_dim is None:
            raise TextclfError("set model.embedding_dim (there are no pretrained vectors to take it from)")
        return embedding_dim
    dim = int(pretrained.shape[1])
    if embedding_dim is not None and embedding_dim != dim:
        raise TextclfError(f"model.embedding_dim is {embedding_dim} but the pretrained vectors have dimension {dim}")
    return dim


def _encoder_from_config(config: dict[str, Any]) -> Encoder:
    module_name, _, class_name = config["class_path"].rpartition(".")
    try:
        encoder_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise TextclfError(f"checkpoint names an unknown encoder {config['class_path']!r}") from None
    if not (isinstance(encoder_class, type) and issubclass(encoder_class, Encoder)):
        raise TextclfError(f"checkpoint names {config['class_path']!r}, which is not an Encoder")
    return encoder_class(**config["init_args"])
