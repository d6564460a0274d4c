"""The external baseline: Facebook's fastText (pip ``fasttext-wheel``) on exactly the splits textclf trains on.

The splits come from the recipe's own data module (``read_splits`` and ``carve_missing_splits``, the functions
textclf's preparation calls, so hold-outs and cv folds are the same rows). Texts are tokenised by the recipe's
tokenizer, without its truncation (fastText reads whole documents). Hyperparameters follow Joulin et al. (2016),
"Bag of Tricks for Efficient Text Classification", section 3.1: 10 hidden units and the learning rate chosen on
the validation split from {0.05, 0.1, 0.25, 0.5} (and 1.0); the number of epochs (5 as in the paper, 25 or 50, which
the small sentence corpora need) is chosen on validation too. One thread, so that a seed gives one result. The test
split is scored once, with the chosen settings. The training lines are shuffled with the seed.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

import textclf
from textclf.data.splits import carve_missing_splits, clean_split
from textclf.tokenize import Tokenizer

RATES = (0.05, 0.1, 0.25, 0.5, 1.0)
EPOCHS = (5, 25, 50)
DIM = 10


def data_module(recipe_dir: Path, fold: int | None = None, num_folds: int | None = None) -> Any:
    """The data module of ``recipe_dir/data.yaml`` (a textclf class; the file is one of ours, not a user's)."""
    config = yaml.safe_load((recipe_dir / "data.yaml").read_text())
    name = config["class_path"].removeprefix("textclf.")
    options = dict(config.get("init_args") or {})
    if fold is not None:
        options.update(fold=fold, num_folds=num_folds)
    return getattr(textclf, name)(**options)


def splits(module: Any) -> dict[str, tuple[list[str], list[str]]]:
    """``{split: (texts, labels)}`` for train, val and test, as textclf's preparation carves them."""
    read = {name: clean_split(split) for name, split in module.read_splits().items()}
    carved = carve_missing_splits(
        read, module.val_fraction, module.test_fraction, module.seed, module.fold, module.num_folds
    )
    return {name: (list(split.texts), [str(label) for label in split.labels]) for name, split in carved.items()}


def _write(path: Path, texts: list[str], labels: list[str], tokenizer: Tokenizer, seed: int) -> None:
    """The training file, its lines shuffled (seeded): fastText reads it in order, and corpora come sorted by label."""
    order = np.random.default_rng(seed).permutation(len(texts))
    with path.open("w", encoding="utf-8") as handle:
        for i in order:
            handle.write(f"__label__{labels[i].replace(' ', '_')} {' '.join(tokenizer(texts[i]))}\n")


def _accuracy(model: Any, texts: list[str], labels: list[str], tokenizer: Tokenizer) -> float:
    """Accuracy of ``model`` on the texts, each read as a line of the training file is (``\n``: its ``</s>`` token).

    ``model.f.predict``: fasttext 0.9.2's Python ``predict()`` (which adds the ``\n`` too) calls
    ``np.array(copy=False)``, which numpy 2 refuses.
    """
    predicted = [model.f.predict(" ".join(tokenizer(text)) + "\n", 1, 0.0, "strict")[0][1] for text in texts]
    gold = [f"__label__{label.replace(' ', '_')}" for label in labels]
    return float(np.mean([p == g for p, g in zip(predicted, gold, strict=True)]))


def run_fasttext(recipe_dir: Path, word_ngrams: int, seed: int, folds: int | None = None) -> dict[str, Any]:
    """Train and test fastText on the recipe's splits (every fold when ``folds``); accuracies in 0..1.

    Returns:
        ``{"test/acc", "val/acc", "chosen" (lr and epochs, a list per fold for cv), "folds": [...] (cv only)}``.
    """
    if folds is None:
        return _one(data_module(recipe_dir), word_ngrams, seed)
    runs = [_one(data_module(recipe_dir, fold, folds), word_ngrams, seed) for fold in range(folds)]
    return {
        "test/acc": float(np.mean([r["test/acc"] for r in runs])),
        "val/acc": float(np.mean([r["val/acc"] for r in runs])),
        "chosen": [r["chosen"] for r in runs],
        "folds": runs,
    }


def _one(module: Any, word_ngrams: int, seed: int) -> dict[str, Any]:
    import fasttext

    data = splits(module)
    tokenizer = Tokenizer(module.tokenizer.mode)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="textclf-fasttext-") as tmp:
        train = Path(tmp) / "train.txt"
        _write(train, *data["train"], tokenizer, seed)
        best: tuple[float, dict[str, float], Any] | None = None
        for epoch in EPOCHS:
            for lr in RATES:
                model = fasttext.train_supervised(
                    input=os.fspath(train), lr=lr, dim=DIM, epoch=epoch, wordNgrams=word_ngrams, minCount=1,
                    bucket=2_000_000 if word_ngrams > 1 else 0, thread=1, seed=seed, verbose=0,
                )  # fmt: skip
                val = _accuracy(model, *data["val"], tokenizer)
                if best is None or val > best[0]:
                    best = (val, {"lr": lr, "epoch": epoch}, model)
    assert best is not None
    val, chosen, model = best
    test = _accuracy(model, *data["test"], tokenizer)
    sizes = {name: len(texts) for name, (texts, _) in data.items()}
    return {"test/acc": test, "val/acc": val, "chosen": chosen, "sizes": sizes, "seconds": time.perf_counter() - start}
