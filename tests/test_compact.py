"""Compact artefacts: frozen vector rows stored once, never in the optimizer; old checkpoints still load.

The recipes add up to 100k words from the vectors file (``vectors_vocab_size``) as frozen rows. A checkpoint holds
them once, and its optimizer state covers the trained parameters only. Rows that no training text reads (the
non-static and random modes) are float16, rounded when the model is built, so saving and loading change nothing,
and the ONNX export keeps them as a float16 initializer; the frozen channel of static/multichannel stays float32.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from factories import NEGATIVE, POSITIVE, quiet_trainer, write_csv

from textclf import FileDataModule, RNNEncoder, TextClassifier
from textclf.embedding import EmbeddingMode, WordEmbedding
from textclf.export import encode_with_vocab, export_model, load_exported
from textclf.resume import Resumable
from textclf.vocab import Vocabulary

DIM = 32
EXTRA = 3000  # words of the vectors file beyond the corpus's: frozen rows in every mode
CORPUS_WORDS = [*POSITIVE, *NEGATIVE, "the", "film", "was", "a", "movie", "acting", "and", "really", "quite"]
TEXTS = ["the film was superb", "awful w0007 w2999 boring", "zzz unknown", "", "w0001 w0002 and lovely"]
MODES: list[EmbeddingMode] = ["non-static", "static", "multichannel"]
STORED = {"non-static": torch.float16, "static": torch.float32, "multichannel": torch.float32}
"""How each mode stores its frozen rows."""


def write_big_vectors(path: Path) -> Path:
    """Vectors for the corpus words, then EXTRA more words (w0000, w0001, ...), DIM dims, GloVe text format."""
    rng = random.Random(0)
    with path.open("w") as handle:
        for word in [*CORPUS_WORDS, *(f"w{i:04d}" for i in range(EXTRA))]:
            handle.write(word + " " + " ".join(f"{rng.uniform(-1, 1):.6f}" for _ in range(DIM)) + "\n")
    return path


def big_data(root: Path) -> FileDataModule:
    root.mkdir(parents=True, exist_ok=True)
    vectors = root / "vectors.txt"
    if not vectors.exists():
        write_big_vectors(vectors)
    train = root / "train.csv"
    if not train.exists():
        write_csv(train, rows=48)
    return FileDataModule(
        str(train), vectors=str(vectors), vectors_vocab_size=len(CORPUS_WORDS) + EXTRA, batch_size=8,
        cache_dir=str(root / "cache"),
    )  # fmt: skip


def fit(root: Path, mode: EmbeddingMode, max_epochs: int = 1, ckpt_path: str | None = None) -> TextClassifier:
    """A run of ``max_epochs`` (resumed from ``ckpt_path``) on :func:`big_data`; it writes ``root/ckpt/last.ckpt``."""
    L.seed_everything(0)
    data = big_data(root)
    model = TextClassifier.for_data(data, RNNEncoder(hidden_size=4), embedding_mode=mode)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=str(root / "ckpt"), save_last=True, save_top_k=0)
    trainer = quiet_trainer(max_epochs, enable_checkpointing=True, callbacks=[checkpoint, Resumable()])
    trainer.fit(model, data, ckpt_path=ckpt_path)
    return model


@pytest.fixture(scope="module", params=MODES)
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[TextClassifier, Path]:
    root = tmp_path_factory.mktemp(request.param)
    return fit(root, request.param), root / "ckpt" / "last.ckpt"


def test_frozen_rows_are_stored_once_compactly_and_have_no_optimizer_state(run: tuple[TextClassifier, Path]) -> None:
    model, path = run
    saved: dict[str, Any] = torch.load(path, weights_only=True)
    state = saved["state_dict"]
    vocab_size, trained = len(model.vocab), model.vocab.trained_size
    assert vocab_size - trained >= EXTRA  # the vectors file's words are frozen rows
    frozen_rows = vocab_size if model.embedding_mode in ("static", "multichannel") else vocab_size - trained
    assert state["embedding.frozen"].dtype == STORED[model.embedding_mode]
    assert tuple(state["embedding.frozen"].shape) == (frozen_rows, DIM)
    big = [name for name, tensor in state.items() if tensor.ndim and len(tensor) > trained]
    assert big == ["embedding.frozen"]  # stored once: no float32 copy, no second table
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert ("embedding.tuned.weight" in trainable) == (model.embedding_mode != "static")
    moments = [t for s in saved["optimizer_states"][0]["state"].values() for k, t in s.items() if k != "step"]
    assert sum(t.numel() for t in moments) == 2 * sum(p.numel() for p in trainable.values())  # Adam's two moments
    frozen_bytes = frozen_rows * DIM * state["embedding.frozen"].element_size()
    rest = sum(t.numel() * t.element_size() for n, t in state.items() if n != "embedding.frozen")
    rest += sum(t.numel() * t.element_size() for t in moments)
    assert frozen_bytes + rest < path.stat().st_size < frozen_bytes + rest + 150_000  # + the vocabulary, metadata


def test_save_then_load_predicts_identically(run: tuple[TextClassifier, Path]) -> None:
    model, path = run
    loaded = TextClassifier.load_from_checkpoint(path)
    assert loaded.embedding.frozen.dtype == STORED[model.embedding_mode]
    assert np.array_equal(loaded.predict_proba(TEXTS), model.cpu().predict_proba(TEXTS))
    assert torch.equal(loaded.embedding.frozen, model.embedding.frozen)


def format_1(saved: dict[str, Any], mode: EmbeddingMode, trained: int, noise: float) -> dict[str, Any]:
    """``saved`` as textclf wrote it before compact checkpoints: float32, the untrained rows in ``untrained``, and
    in static/multichannel mode the whole frozen table again in ``frozen.weight``; values moved by ``noise``."""
    old = {k: v for k, v in saved.items() if k != "state_dict"}
    state = dict(saved["state_dict"])
    frozen = state.pop("embedding.frozen").float() + noise
    frozen[:1] = 0.0 if mode != "non-static" else frozen[:1]
    if mode == "non-static":
        state["embedding.untrained"] = frozen
    else:
        state["embedding.frozen.weight"] = frozen
        state["embedding.untrained"] = frozen[trained:] if mode == "multichannel" else frozen[:0]
    old["state_dict"] = state
    old["textclf"] = {**saved["textclf"], "format_version": 1}
    return old


def test_a_format_1_checkpoint_loads_and_resumes_with_its_float32_rows(
    run: tuple[TextClassifier, Path], tmp_path: Path
) -> None:
    model, path = run
    mode, trained = model.embedding_mode, model.vocab.trained_size
    saved = torch.load(path, weights_only=True)
    exact = tmp_path / "exact.ckpt"
    torch.save(format_1(saved, mode, trained, 0.0), exact)  # the same values, stored as float32: nothing changes
    assert np.array_equal(TextClassifier.load_from_checkpoint(exact).predict_proba(TEXTS), model.predict_proba(TEXTS))
    old = tmp_path / "old.ckpt"
    torch.save(format_1(saved, mode, trained, 1e-4), old)  # values float16 cannot hold
    loaded = TextClassifier.load_from_checkpoint(old)
    written = torch.load(old, weights_only=True)["state_dict"]
    expected = written["embedding.untrained" if mode == "non-static" else "embedding.frozen.weight"]
    assert loaded.embedding.frozen.dtype == torch.float32 and torch.equal(loaded.embedding.frozen, expected)
    resumed = fit(tmp_path, mode, max_epochs=2, ckpt_path=str(old))  # Lightning's restore (--ckpt_path)
    assert resumed.embedding.frozen.dtype == torch.float32 and torch.equal(resumed.embedding.frozen, expected)


def test_resume_from_last_ckpt_with_frozen_rows_is_exact(tmp_path: Path) -> None:
    whole = fit(tmp_path / "whole", "multichannel", max_epochs=2)
    fit(tmp_path / "parts", "multichannel", max_epochs=1)
    resumed = fit(tmp_path / "parts", "multichannel", max_epochs=2, ckpt_path=str(tmp_path / "parts/ckpt/last.ckpt"))
    for (name, a), (_, b) in zip(whole.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_values_float16_cannot_hold_keep_float32() -> None:
    pretrained = torch.randn(6, 4)
    assert WordEmbedding(6, 4, mode="non-static", pretrained=pretrained, trained_rows=3).frozen.dtype == torch.float16
    pretrained[5, 0] = 1e6
    embedding = WordEmbedding(6, 4, mode="non-static", pretrained=pretrained, trained_rows=3)
    assert embedding.frozen.dtype == torch.float32
    assert torch.equal(embedding(torch.tensor([[5]]))[0, 0], pretrained[5])


def test_the_model_type_decides_the_output_type() -> None:
    embedding = WordEmbedding(6, 4, mode="multichannel", pretrained=torch.randn(6, 4), trained_rows=3).double()
    assert embedding.frozen.dtype == torch.float64 and embedding(torch.tensor([[1, 5]])).dtype == torch.float64


@pytest.mark.parametrize("mode", MODES)
def test_onnx_keeps_frozen_rows_compact_and_matches_the_model(mode: EmbeddingMode, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    torch.manual_seed(0)
    tokens = ["<pad>", "<unk>", "the", "film", "superb", "awful", *(f"w{i:04d}" for i in range(EXTRA))]
    vocab = Vocabulary(tokens, trained_size=6)
    model = TextClassifier(
        RNNEncoder(hidden_size=5), vocab=vocab, labels=["neg", "pos"], embedding_mode=mode,
        pretrained_embeddings=torch.randn(len(tokens), DIM),
    ).eval()  # fmt: skip
    export_model(model, tmp_path, ["onnx"])  # checks parity on a probe batch (TOLERANCE)
    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    frozen = next(i for i in graph.initializer if i.name == "embedding.frozen")
    half = STORED[mode] == torch.float16
    assert frozen.data_type == (onnx.TensorProto.FLOAT16 if half else onnx.TensorProto.FLOAT)
    rows = len(tokens) if mode != "non-static" else len(tokens) - 6
    assert list(frozen.dims) == [rows, DIM]
    assert (tmp_path / "model.onnx").stat().st_size < rows * DIM * (2 if half else 4) + 60_000
    settings = {"token_pattern": r"\S+", "lowercase": True, "max_length": None, "pad_index": 0, "unk_index": 1}
    token_ids, lengths = encode_with_vocab(TEXTS, tokens, settings)
    exported = load_exported(tmp_path / "model.onnx")(token_ids, lengths)
    assert np.abs(exported - model.predict_proba(TEXTS)).max() <= 1e-5
