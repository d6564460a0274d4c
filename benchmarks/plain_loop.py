"""A plain PyTorch training loop for the recipe model (BiLSTM, hidden 150, max pooling over time, batch 50).

This is what one writes without a framework: read the file, build a vocabulary, shuffle, pad each batch to its
longest text, pack it for the LSTM (exact for both directions), mask the padding in the max pooling. The
embeddings start random (training speed does not depend on their values).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def read_labelled_lines(path: Path) -> tuple[list[list[str]], list[int]]:
    """``LABEL token token ...`` lines (SST's stsa files) -> token lists and integer labels."""
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        label, _, text = line.partition(" ")
        texts.append(text.split())
        labels.append(int(label))
    return texts, labels


class PlainBiLSTM(nn.Module):
    """Embedding -> dropout -> BiLSTM -> masked max pool -> dropout -> linear."""

    def __init__(self, vocab_size: int, dim: int, hidden: int, classes: int, packed: bool = True) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.embedding_dropout = nn.Dropout(0.25)
        self.dropout = nn.Dropout(0.5)
        self.head = nn.Linear(2 * hidden, classes)
        self.packed = packed

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embedding_dropout(self.embedding(ids))  # (batch, seq, dim)
        if self.packed:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            states, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=ids.size(1))
        else:  # padded call: fast, but the backward direction reads the padding first (inexact)
            states, _ = self.lstm(x)
        mask = torch.arange(ids.size(1), device=ids.device)[None, :] < lengths[:, None]  # (batch, seq)
        pooled = states.masked_fill(~mask[..., None], float("-inf")).max(dim=1).values  # (batch, 2 * hidden)
        return self.head(self.dropout(pooled))


def batches(texts: list[list[int]], labels: list[int], size: int, rng: random.Random):
    order = list(range(len(texts)))
    rng.shuffle(order)
    for start in range(0, len(order), size):
        index = order[start : start + size]
        lengths = torch.tensor([len(texts[i]) for i in index])
        ids = torch.zeros(len(index), int(lengths.max()), dtype=torch.long)
        for row, i in enumerate(index):
            ids[row, : len(texts[i])] = torch.tensor(texts[i])
        yield ids, lengths, torch.tensor([labels[i] for i in index])


def train_epochs(train_file: Path, epochs: int, packed: bool = True, seed: int = 0) -> list[float]:
    """Train for ``epochs`` epochs; return each epoch's wall time in seconds (data preparation not included)."""
    torch.manual_seed(seed)
    tokens, labels = read_labelled_lines(train_file)
    counts = Counter(t for text in tokens for t in text)
    index = {w: i + 2 for i, w in enumerate(sorted(counts, key=lambda w: (-counts[w], w)))}
    ids = [[index[t] for t in text] or [1] for text in tokens]
    model = PlainBiLSTM(len(index) + 2, 50, 150, max(labels) + 1, packed=packed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng, times = random.Random(seed), []
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        for batch_ids, lengths, targets in batches(ids, labels, 50, rng):
            loss = nn.functional.cross_entropy(model(batch_ids, lengths), targets)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
        times.append(time.perf_counter() - start)
    return times
