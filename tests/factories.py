"""Tiny corpora and vectors written by the tests themselves (never copied from a real corpus)."""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import torch

from textclf import FileDataModule, RNNEncoder

POSITIVE = ["good", "great", "fine", "lovely", "superb", "wonderful"]
NEGATIVE = ["bad", "awful", "poor", "dull", "boring", "terrible"]
FILLER = ["the", "film", "was", "a", "movie", "plot", "acting", "and", "really", "quite"]


def sentence(rng: random.Random, cue_words: list[str]) -> str:
    words = rng.choices(FILLER, k=rng.randint(2, 12)) + rng.choices(cue_words, k=rng.randint(1, 3))
    rng.shuffle(words)
    return " ".join(words)


def write_csv(path: Path, rows: int = 40, seed: int = 0) -> Path:
    """A two-class sentiment CSV (columns text,label; labels pos/neg), balanced."""
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(rows):
            label = "pos" if i % 2 == 0 else "neg"
            writer.writerow([sentence(rng, POSITIVE if label == "pos" else NEGATIVE), label])
    return path


def write_vectors(path: Path, dim: int = 8, seed: int = 0) -> Path:
    """GloVe-style text vectors (no header) for the corpus words, except 'plot' (a missing word)."""
    rng = random.Random(seed)
    words = [w for w in POSITIVE + NEGATIVE + FILLER if w != "plot"]
    with path.open("w") as handle:
        for word in words:
            handle.write(word + " " + " ".join(f"{rng.uniform(-1, 1):.5f}" for _ in range(dim)) + "\n")
    return path


def seeded_rnn_encoder(input_size: int, hidden_size: int, **options: Any) -> RNNEncoder:
    """A float64, eval-mode RNNEncoder with the weights of seed 0 (for tight comparisons)."""
    torch.manual_seed(0)
    return RNNEncoder(input_size, hidden_size=hidden_size, **options).double().eval()


def tiny_data(root: Path, rows: int = 60, **options: Any) -> FileDataModule:
    """A FileDataModule over write_csv's corpus with write_vectors' 8-d vectors, cached under ``root``."""
    options = {"vectors": str(write_vectors(root / "vectors.txt")), "batch_size": 8, **options}
    return FileDataModule(str(write_csv(root / "train.csv", rows=rows)), cache_dir=str(root / "cache"), **options)
