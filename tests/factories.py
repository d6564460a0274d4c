"""Tiny corpora, vectors, models and trainers written by the tests themselves (never copied from a real corpus).

Every helper that more than one test module needs is defined here, once.
"""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
import yaml

from textclf import FileDataModule, RNNEncoder, TextClassifier, Vocabulary
from textclf.cli import main
from textclf.data.records import iter_located_records

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
# CLI overrides that keep a trainer quiet (no progress bar, no model summary)
QUIET_TRAINER_ARGS = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]

POSITIVE = ["good", "great", "fine", "lovely", "superb", "wonderful"]
NEGATIVE = ["bad", "awful", "poor", "dull", "boring", "terrible"]
FILLER = ["the", "film", "was", "a", "movie", "plot", "acting", "and", "really", "quite"]

# ---- files -------------------------------------------------------------------------------------------------------


def sentence(rng: random.Random, cue_words: list[str]) -> str:
    words = rng.choices(FILLER, k=rng.randint(2, 12)) + rng.choices(cue_words, k=rng.randint(1, 3))
    rng.shuffle(words)
    return " ".join(words)


def sentiment_rows(rows: int, seed: int = 0) -> Iterable[list[str]]:
    """``rows`` (text, label) rows of a balanced two-class sentiment corpus (labels pos/neg, pos first)."""
    rng = random.Random(seed)
    for i in range(rows):
        label = "pos" if i % 2 == 0 else "neg"
        yield [sentence(rng, POSITIVE if label == "pos" else NEGATIVE), label]


def write_csv(
    path: Path, rows: int | Iterable[Sequence[str]] = 40, seed: int = 0, header: Sequence[str] = ("text", "label")
) -> Path:
    """A CSV file with ``header``: the given rows, or (``rows`` a number) that many of sentiment_rows(rows, seed)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(sentiment_rows(rows, seed) if isinstance(rows, int) else rows)
    return path


def write_file(path: Path, data: str | bytes) -> Path:
    """``data`` written as is (text as UTF-8, no newline translation), the parent folders created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", newline="")
    return path


def write_vectors(path: Path, dim: int = 8, seed: int = 0) -> Path:
    """GloVe-style text vectors (no header) for the corpus words, except 'plot' (a missing word)."""
    rng = random.Random(seed)
    words = [w for w in POSITIVE + NEGATIVE + FILLER if w != "plot"]
    with path.open("w") as handle:
        for word in words:
            handle.write(word + " " + " ".join(f"{rng.uniform(-1, 1):.5f}" for _ in range(dim)) + "\n")
    return path


HUB_SHARD = "data/{split}-00000-of-00001.parquet"


def write_hub_repo(
    directory: Path, features: dict[str, Any], splits: dict[str, dict[str, list[Any]]], shard: str = HUB_SHARD
) -> Path:
    """A local directory laid out like a Parquet-backed Hub dataset repository: one Parquet file per split.

    ``shard`` is the file's path in the directory, formatted with the split's name; by default
    ``data/<split>-00000-of-00001.parquet`` (found by convention).
    """
    import datasets  # only here: conftest sets its cache folder before the first import

    for split, columns in splits.items():
        path = directory / shard.format(split=split)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
        table.to_parquet(str(path))
    return directory


def cache_entries(cache: Path, kind: str = "data") -> list[str]:
    """The names in the cache's ``kind`` folder but the lock files: finished entries and any staging folder."""
    return sorted(p.name for p in (cache / kind).iterdir() if not p.name.endswith(".lock"))


def leftovers(cache: Path) -> list[str]:
    """Prepared data or staging folders left anywhere in a cache (its meta.json files and .tmp-* folders)."""
    return [p.name for p in cache.rglob("*") if p.name.startswith(".tmp-") or p.name == "meta.json"]


# ---- data, encoders, models, trainers ----------------------------------------------------------------------------


def tiny_data(root: Path, rows: int = 60, **options: Any) -> FileDataModule:
    """A FileDataModule over write_csv's corpus with write_vectors' 8-d vectors, cached under ``root``."""
    options = {"vectors": str(write_vectors(root / "vectors.txt")), "batch_size": 8, **options}
    return FileDataModule(str(write_csv(root / "train.csv", rows=rows)), cache_dir=str(root / "cache"), **options)


def make_encoder(
    input_size: int,
    hidden_size: int,
    cell: str,
    bidirectional: bool,
    pooling: str,
    implementation: str,
    num_layers: int,
    dropout: float = 0.0,
) -> RNNEncoder:
    """A float64, eval-mode RNNEncoder with the weights of seed 0 (for tight comparisons)."""
    torch.manual_seed(0)
    options = {"cell": cell, "bidirectional": bidirectional, "pooling": pooling, "num_layers": num_layers}
    encoder = RNNEncoder(input_size, hidden_size=hidden_size, implementation=implementation, dropout=dropout, **options)
    return encoder.double().eval()


TINY_VOCAB = ["<pad>", "<unk>", "good", "bad", "film"]


def tiny_model(
    vocab: Sequence[str] | Vocabulary = TINY_VOCAB,
    labels: Sequence[str] = ("neg", "pos"),
    encoder: dict[str, Any] | None = None,
    seed: int | None = None,
    **options: Any,
) -> TextClassifier:
    """A small TextClassifier with 6-d random embeddings and an ``RNNEncoder(hidden_size=5, **encoder)``.

    With ``seed``, the random generator is seeded first (so the weights are those of the seed); ``options`` go to
    TextClassifier.
    """
    if seed is not None:
        torch.manual_seed(seed)
    options = {"embedding_dim": 6, "embedding_mode": "random", **options}
    encoder_options = {"hidden_size": 5, **(encoder or {})}
    return TextClassifier(RNNEncoder(**encoder_options), vocab=vocab, labels=list(labels), **options)


def quiet_trainer(max_epochs: int = 1, **options: Any) -> L.Trainer:
    """A Trainer without logger, progress bar, model summary or (unless ``enable_checkpointing=True``) checkpoints."""
    defaults = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    return L.Trainer(max_epochs=max_epochs, **{**defaults, "enable_checkpointing": False, **options})


def printed_config(capsys: pytest.CaptureFixture[str], args: Sequence[str]) -> dict:
    """The configuration ``textclf ARGS --print_config`` prints (it exits with status 0)."""
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--print_config"])
    assert exit_info.value.code == 0
    return yaml.safe_load(capsys.readouterr().out)


def forbid(monkeypatch: pytest.MonkeyPatch, target: object, name: str, message: str) -> None:
    """Replace ``target.name`` with a function that fails the test with ``message`` when anything calls it."""

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(message)

    monkeypatch.setattr(target, name, forbidden)


def run_script(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``script`` with ``args`` in a fresh process (warnings off); it must exit with status 0."""
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result


def csv_fit_args(root: Path, *extra: str, train_rows: int = 60, test_rows: int = 20) -> list[str]:
    """``textclf fit`` arguments for the custom CSV recipe on generated train/test files under ``root``.

    The cache goes to ``root/cache`` and the trainer is quiet; ``extra`` adds or overrides options.
    """
    return [
        "fit",
        "-c",
        str(RECIPES / "custom" / "csv.yaml"),
        f"--data.init_args.train={write_csv(root / 'train.csv', rows=train_rows)}",
        f"--data.init_args.test={write_csv(root / 'test.csv', rows=test_rows, seed=1)}",
        f"--data.init_args.cache_dir={root / 'cache'}",
        *QUIET_TRAINER_ARGS,
        *extra,
    ]


def small_fit_args(
    root: Path, *extra: str, max_epochs: int = 2, train_rows: int = 60, test_rows: int = 20
) -> list[str]:
    """:func:`csv_fit_args` with GloVe-format vectors, batches of 8, a hidden size of 8, runs under ``root/runs``."""
    return csv_fit_args(
        root,
        f"--data.init_args.vectors={write_vectors(root / 'vectors.txt')}",
        "--data.init_args.batch_size=8",
        "--model.encoder.init_args.hidden_size=8",
        f"--trainer.max_epochs={max_epochs}",
        f"--trainer.default_root_dir={root / 'runs'}",
        *extra,
        train_rows=train_rows,
        test_rows=test_rows,
    )


def iter_records(source: str, *args: Any, **options: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """predict's records as (text, fields), without where each one is (:func:`iter_located_records`)."""
    return ((text, fields) for text, fields, _, _ in iter_located_records(source, *args, **options))
