"""``textclf export``: a trained checkpoint as ONNX and/or TorchScript, with its vocabulary, labels and tokenizer.

The exported graph takes ``token_ids`` (batch, seq) int64, zero-padded, and ``lengths`` (batch,) int64, each in
[1, seq], with dynamic batch and seq axes, and returns ``probs`` (batch, num_classes): a softmax over classes, or
for multi-label models a sigmoid per label. It runs the padded/masked RNN path (plain forward-only LSTM/GRU nodes,
no packed sequences), the same function as the packed one. Beside the model lie ``vocab.json`` (tokens in index
order), ``labels.json`` (class names in index order), ``tokenizer.json`` (the settings :func:`encode_with_vocab`
needs) and, for multi-label models, ``thresholds.json`` (``{label: threshold}``). See docs/export.md.

A model with a context head (docs/sequential.md) is refused: it classifies each text with the texts of its group,
and the exported graph takes texts without groups.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from textclf.data.batching import TokenIdsDataset
from textclf.encoders import RNNEncoder
from textclf.errors import TextclfError
from textclf.inference import predict_proba, refuse_context_head
from textclf.model import TextClassifier
from textclf.tokenize import _BASIC_TOKEN, Tokenizer, join_phrases
from textclf.vocab import Vocabulary

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("onnx", "torchscript", "both")
MODEL_FILES = {"onnx": "model.onnx", "torchscript": "model.pt"}
EXPORT_FILES = ("model.onnx", "model.pt", "vocab.json", "labels.json", "tokenizer.json", "thresholds.json")
DEFAULT_OPSET = 17
MIN_OPSET = 9  # ONNX Range (arange) and LSTM/GRU with the settings used
TOLERANCE = 1e-4
INPUT_NAMES = ["token_ids", "lengths"]


class ExportModule(nn.Module):
    """The inference path of a :class:`TextClassifier`: (token_ids, lengths) -> class probabilities.

    Dropout is left out (it is the identity at inference). An ``RNNEncoder`` is copied and switched to the padded
    implementation; the copy shares nothing the eager model uses, so the eager model is unchanged.

    Args:
        model: the classifier to export; its embedding and head are shared, not copied.
    """

    def __init__(self, model: TextClassifier) -> None:
        super().__init__()
        self.embedding = model.embedding
        encoder = copy.deepcopy(model.encoder)
        if isinstance(encoder, RNNEncoder):
            encoder.implementation = "padded"
        self.encoder = encoder.eval()
        self.head = model.head
        self.task = model.task

    def forward(self, token_ids: Tensor, lengths: Tensor) -> Tensor:
        """token_ids (batch, seq) int64, lengths (batch,) int64 -> probabilities (batch, num_classes)."""
        logits = self.head(self.encoder(self.embedding(token_ids), lengths))  # (batch, num_classes)
        return self.task.probabilities(logits)


def tokenizer_settings(tokenizer: Tokenizer) -> dict[str, Any]:
    r"""What :func:`encode_with_vocab` (or any other runtime) needs to tokenise exactly as ``tokenizer`` does.

    ``token_pattern`` is a Python regular expression whose matches are the tokens (``\S+`` in whitespace mode,
    the same split as ``str.split()``), applied after lowercasing when ``lowercase`` is true; then, left to right,
    two tokens ``a``, ``b`` whose ``a_b`` is in ``phrases`` become that one token (a joined pair is not joined
    again: :func:`textclf.tokenize.join_phrases`); then at most ``max_length`` tokens (``null``: all) are kept.
    """
    pattern = r"\S+" if tokenizer.mode == "whitespace" else _BASIC_TOKEN.pattern
    return {
        "mode": tokenizer.mode,
        "lowercase": tokenizer.mode == "basic",
        "token_pattern": pattern,
        "phrases": list(tokenizer.phrases),
        "max_length": tokenizer.max_length,
        "pad_index": Vocabulary.pad_index,
        "unk_index": Vocabulary.unk_index,
    }


def encode_with_vocab(
    texts: Sequence[str], vocab: Sequence[str], tokenizer_settings: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and lengths of raw texts from the exported JSON files alone (no torch, no textclf model).

    Args:
        texts: raw texts.
        vocab: the tokens of ``vocab.json``, in index order.
        tokenizer_settings: the contents of ``tokenizer.json``.

    Returns:
        ``token_ids`` (batch, seq) int64, zero-padded, and ``lengths`` (batch,) int64: the exported model's inputs,
        the same ids as the model's own tokenizer and vocabulary give (an empty text becomes one ``<unk>``).
    """
    settings = tokenizer_settings
    pattern, index = re.compile(settings["token_pattern"]), {token: i for i, token in enumerate(vocab)}
    phrases, rows = frozenset(settings.get("phrases", ())), []
    for text in texts:
        tokens = pattern.findall(text.lower() if settings["lowercase"] else text)
        tokens = (join_phrases(tokens, phrases) if phrases else tokens)[: settings["max_length"]]
        rows.append([index.get(token, settings["unk_index"]) for token in tokens] or [settings["unk_index"]])
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    token_ids = np.full((len(rows), int(lengths.max(initial=1))), settings["pad_index"], dtype=np.int64)
    for i, row in enumerate(rows):
        token_ids[i, : len(row)] = row
    return token_ids, lengths


def export_model(
    model: TextClassifier,
    output_dir: str | Path,
    formats: Sequence[str] = ("onnx", "torchscript"),
    *,
    opset: int = DEFAULT_OPSET,
    overwrite: bool = False,
) -> list[Path]:
    """Export ``model`` and its vocabulary, labels and tokenizer into ``output_dir``.

    Each exported model is checked on a probe batch of mixed lengths (other batch and seq sizes than those
    traced) against the eager model before anything is written; a failed export leaves ``output_dir`` as it was.

    Args:
        model: the trained classifier; it is exported from the CPU in eval mode, then put back as it was.
        output_dir: folder for ``model.onnx`` / ``model.pt``, ``vocab.json``, ``labels.json``, ``tokenizer.json``.
        formats: any of ``"onnx"`` and ``"torchscript"``.
        opset: ONNX opset version.
        overwrite: replace an export already in ``output_dir`` (all five files of it are removed first).

    Returns:
        The paths written.

    Raises:
        TextclfError: a model with a context head (:func:`refuse_context`), an unknown format, an output that is a
            file or holds an export (without ``overwrite``), missing ONNX packages, an opset out of range.
    """
    refuse_context(model)
    unknown = sorted(set(formats) - set(MODEL_FILES))
    if unknown or not formats:
        raise TextclfError(f"unknown export format {unknown or formats}; choose from onnx, torchscript")
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise TextclfError(f"output {out} is a file, not a folder")
    existing = [name for name in EXPORT_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise TextclfError(f"{out} already holds an export ({', '.join(existing)}); pass --overwrite to replace it")
    if "onnx" in formats:
        _require("onnx", "onnxruntime")
        _check_opset(opset)
    device, was_training = model.device, model.training
    module = ExportModule(model.cpu().eval()).eval()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".textclf-export-", dir=out))
    try:
        for fmt in formats:
            path = staging / MODEL_FILES[fmt]
            _export(module, path, fmt, opset)
            diff = check_parity(model, path)
            log.info("%s: max |p_export - p_eager| = %.2g on a probe batch", MODEL_FILES[fmt], diff)
        files: dict[str, Any] = {
            "vocab": model.vocab.tokens,
            "labels": model.labels,
            "tokenizer": tokenizer_settings(model.tokenizer),
        }
        thresholds = model.label_thresholds()
        if thresholds is not None:
            files["thresholds"] = {label: float(t) for label, t in zip(model.labels, thresholds, strict=True)}
        for name, value in files.items():
            (staging / f"{name}.json").write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", "utf-8")
        for name in existing:
            (out / name).unlink()
        written = []
        for path in sorted(staging.iterdir()):
            os.replace(path, out / path.name)
            written.append(out / path.name)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        model.to(device).train(was_training)


def export_checkpoint(
    checkpoint: str | Path,
    output_dir: str | Path,
    fmt: str = "both",
    *,
    opset: int = DEFAULT_OPSET,
    overwrite: bool = False,
) -> list[Path]:
    """Load a checkpoint written by ``textclf fit`` and :func:`export_model` it (``fmt``: onnx, torchscript, both)."""
    if fmt not in EXPORT_FORMATS:
        raise TextclfError(f"unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    model = TextClassifier.load_from_checkpoint(checkpoint, map_location="cpu")
    refuse_context(model, str(checkpoint))
    formats = ("onnx", "torchscript") if fmt == "both" else (fmt,)
    return export_model(model, output_dir, formats, opset=opset, overwrite=overwrite)


def refuse_context(model: TextClassifier, source: str = "this model") -> None:
    """Refuse a model with a context head, before any work: the exported graph has no groups to read.

    Raises:
        TextclfError: naming ``source``.
    """
    refuse_context_head(model, source, "but an exported graph (ONNX, TorchScript) takes texts without groups, so "
                        "it cannot be exported; predict with textclf predict --group-column")  # fmt: skip


def probe_batch(vocab_size: int, batch: int = 5, seq: int = 9, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A zero-padded batch of random ids with mixed lengths (one of them 1, one of them ``seq``)."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, seq + 1, (batch,), generator=generator)
    lengths[0], lengths[-1] = seq, 1
    token_ids = torch.randint(1, max(vocab_size, 2), (batch, seq), generator=generator)
    token_ids[torch.arange(seq).unsqueeze(0) >= lengths.unsqueeze(1)] = 0  # (batch, seq)
    return token_ids, lengths


def load_exported(path: str | Path) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``model.onnx`` (onnxruntime, CPU) or ``model.pt`` (TorchScript) as a function (token_ids, lengths) -> probs.

    An exported model is a program, not data (a TorchScript archive holds code that runs when loaded and called):
    load only exports you made or trust. Checkpoints, which are data, are the format to accept from others.
    """
    path = Path(path)
    if path.suffix == ".onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda token_ids, lengths: np.asarray(session.run(None, {"token_ids": token_ids, "lengths": lengths})[0])
    scripted = torch.jit.load(str(path), map_location="cpu")

    def run(token_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return scripted(torch.from_numpy(token_ids), torch.from_numpy(lengths)).numpy()

    return run


def check_parity(model: TextClassifier, path: Path) -> float:
    """Max |p_export - p_eager| on :func:`probe_batch`; a TextclfError when it exceeds ``TOLERANCE``."""
    token_ids, lengths = probe_batch(len(model.vocab))
    rows = [ids[:length].tolist() for ids, length in zip(token_ids, lengths, strict=True)]
    eager = predict_proba(model, TokenIdsDataset.from_lists(rows), batch_size=len(rows))
    exported = load_exported(path)(token_ids.numpy(), lengths.numpy())
    diff = float(np.abs(exported - eager).max()) if exported.shape == eager.shape else float("inf")
    if not diff <= TOLERANCE:
        raise TextclfError(f"exported {path.name} differs from the eager model by {diff:.3g} (> {TOLERANCE})")
    return diff


def _check_opset(opset: int) -> None:
    from torch.onnx import _constants

    highest = getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 20)
    if not MIN_OPSET <= opset <= highest:
        raise TextclfError(f"--opset must be in [{MIN_OPSET}, {highest}] (this torch's ONNX exporter), got {opset}")


def _export(module: ExportModule, path: Path, fmt: str, opset: int) -> None:
    """Trace ``module`` on a small example into ONNX or TorchScript; the probe check then runs other shapes."""
    example = probe_batch(2, batch=2, seq=3, seed=1)
    axes = {"token_ids": {0: "batch", 1: "seq"}, "lengths": {0: "batch"}, "probs": {0: "batch"}}
    with _quiet_tracing(), torch.no_grad():
        try:
            if fmt == "onnx":  # TorchScript-based: torch.export's exporter unrolls nn.LSTM and fixes seq
                torch.onnx.export(
                    module, example, str(path), input_names=INPUT_NAMES, output_names=["probs"],
                    dynamic_axes=axes, opset_version=opset, dynamo=False, verbose=False,
                )  # fmt: skip
            else:
                torch.jit.trace(module, example).save(str(path))
        except Exception as e:
            what = f"ONNX export (opset {opset})" if fmt == "onnx" else "TorchScript export"
            first = (str(e).strip().splitlines() or [""])[0]
            raise TextclfError(f"{what} failed: {type(e).__name__}: {first}") from None


@contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Silence the tracers' deprecation notices and their constant-folding warnings (the probe check covers them)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*(deprecated|legacy TorchScript-based ONNX|will be removed)")
        warnings.filterwarnings("ignore", message=r"Exporting a model to ONNX with a batch_size other than 1")
        yield


def _require(*modules: str) -> None:
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise TextclfError(
            f"ONNX export needs {' and '.join(missing)}: pip install 'textclf[export]' (or use --format torchscript)"
        )
