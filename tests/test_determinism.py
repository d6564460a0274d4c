"""Deterministic mode: the same seed gives the same run, whatever the number of DataLoader workers.

It was not so: DataLoader iterators drew their workers' base seed from torch's global generator (the one dropout
draws from) once per pass without persistent workers, and once per run with them, so 0 and 2 workers gave other
dropout masks from the second epoch on.
"""

from __future__ import annotations

from pathlib import Path

import torch
from factories import QUIET_TRAINER_ARGS, RECIPES, quiet_trainer, tiny_data, tiny_model, write_csv

from textclf.cli import main
from textclf.resume import batch_seed


def _fit(root: Path, corpus: Path, *extra: str) -> tuple[str, str]:
    """``textclf fit`` of the CSV recipe (3 epochs, no vectors), in deterministic mode; metrics.csv and test metrics."""
    main([
        "fit", "-c", str(RECIPES / "custom" / "csv.yaml"), f"--data.init_args.train={corpus}",
        "--data.init_args.vectors=null", f"--data.init_args.cache_dir={root.parent / 'cache'}",
        "--data.init_args.batch_size=16", "--model.embedding_dim=8", "--model.encoder.init_args.hidden_size=8",
        "--model.optimizer.init_args.lr=0.02", "--trainer.max_epochs=3", "--trainer.log_every_n_steps=2",
        "--trainer.deterministic=true", *QUIET_TRAINER_ARGS, f"--trainer.default_root_dir={root}", *extra,
    ])  # fmt: skip
    run = root / "custom" / "csv" / "version_0"
    metrics = (run / "test_metrics.json").read_text().replace(str(root), "<root>")
    return (run / "metrics.csv").read_text(), metrics


def test_the_cli_gives_the_same_run_with_0_and_2_workers_and_again(tmp_path: Path) -> None:
    corpus = write_csv(tmp_path / "train.csv", rows=160)
    runs = [_fit(tmp_path / name, corpus, f"--data.init_args.num_workers={n}") for name, n in (("a", 0), ("b", 2))]
    runs.append(_fit(tmp_path / "c", corpus))
    assert runs[0] == runs[1] == runs[2]
    rows = runs[0][0].splitlines()
    assert "train/loss" in rows[0] and len({row.split(",")[-1] for row in rows[1:]}) > 3  # metrics do change


def test_workers_leave_the_global_generator_alone_without_any_callback(tmp_path: Path) -> None:
    """From Python (no Resumable callback): the loaders no longer draw from the generator dropout uses."""
    data = tiny_data(tmp_path, rows=60, vectors=None)
    weights = []
    for workers in (0, 2):
        data.num_workers = workers
        model = tiny_model(vocab=data.vocab, labels=data.labels, seed=0, dropout=0.5)
        torch.manual_seed(1)
        quiet_trainer(max_epochs=3).fit(model, data)
        weights.append([p.detach().clone() for p in model.parameters()])
        loader = data.train_dataloader()
        assert loader.persistent_workers == (workers > 0)
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))


def test_batch_seeds_differ_by_every_coordinate() -> None:
    seeds = {batch_seed(s, r, e, b) for s in (0, 1) for r in (0, 1) for e in (0, 1) for b in (0, 1)}
    assert len(seeds) == 16 and batch_seed(42, 0, 3, 7) == batch_seed(42, 0, 3, 7)
