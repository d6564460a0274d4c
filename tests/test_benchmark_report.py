"""The benchmark report (benchmarks/tables.py): mean ± std over seeds, "ours" chosen on validation, never on test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import grid
import run
import tables


def _cell(model: str, vectors: str, seed: int, test: float, val: float) -> dict[str, object]:
    return {"corpus": "trec", "model": model, "vectors": vectors, "seed": seed, "test/acc": test, "val/acc": val,
            "seconds": 60.0, "command": f"textclf fit seed {seed}", "commit": "abc1234", "finished": "now",
            "machine": "test machine"}  # fmt: skip


def _results() -> dict[str, object]:
    cells = [
        # the better *test* scores, but the worse validation scores: must not be chosen as "ours"
        _cell("bilstm_max", "glove50", 1, 0.95, 0.80),
        _cell("bilstm_max", "glove50", 2, 0.97, 0.82),
        _cell("bigru_max", "w2v-imdb", 1, 0.90, 0.90),
        _cell("bigru_max", "w2v-imdb", 2, 0.92, 0.92),
        _cell("bigru_max", "w2v-imdb", 3, 0.94, 0.91),
        _cell("fasttext_bi", "-", 1, 0.80, 0.85),
        # the best validation score, but one seed against three: a win by noise, not chosen
        _cell("lstm_last", "random", 1, 0.99, 0.99),
    ]
    keys = [f"{c['corpus']}/{c['model']}/{c['vectors']}/seed{c['seed']}" for c in cells]
    return {"cells": dict(zip(keys, cells, strict=True)), "vectors": {}}


def test_ours_is_chosen_on_validation_and_reported_as_mean_and_sample_std(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    tables.write_report(_results(), quick=True, base=tmp_path)
    report = (tmp_path / "benchmarks.md").read_text()
    trec = next(line for line in report.splitlines() if line.startswith("| TREC") and "fastText" not in line[:40])
    # BiGRU-max with word2vec has the best mean validation accuracy: its test mean 92.0, sample std 2.0, 3 seeds
    assert "| 92.0 ± 2.0 | BiGRU, max pooling; word2vec" in trec
    assert "(3 seeds)" in trec
    assert "| 80.0 |" in trec  # fastText bigrams, one seed: no std
    assert "SST-5" not in report  # the quick report lists only the corpora it ran
    assert (tmp_path / "accuracy.png").stat().st_size > 0
    cells = (tmp_path / "cells.md").read_text()
    assert cells.count("| trec/") == 7 and "`textclf fit seed 3`" in cells


def test_every_cell_of_the_full_grid_starts_from_a_shipped_recipe() -> None:
    cells = grid.full_grid()
    assert len({c.key for c in cells}) == len(cells)
    for corpus in {c.corpus for c in cells}:
        assert (grid.ROOT / grid.recipe(grid.CORPORA[corpus])).is_file()
    assert {c.seed for c in cells} == set(grid.SEEDS) and len(grid.SEEDS) >= 3


def test_runners_sharing_a_results_file_keep_each_others_cells(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    first, second = run.load(path), run.load(path)  # two runners start from the same (empty) file
    first["failed"]["trec/bilstm_max/glove50/seed2"] = {"error": "killed"}
    first["cells"]["trec/bilstm_max/glove50/seed1"] = {"test/acc": 0.9}
    run.save(path, first)
    second["cells"]["trec/bilstm_max/glove50/seed2"] = {"test/acc": 0.8}
    run.save(path, second)
    merged = run.load(path)
    assert set(merged["cells"]) == {"trec/bilstm_max/glove50/seed1", "trec/bilstm_max/glove50/seed2"}
    assert merged["failed"] == {}  # the cell that failed in one runner has since run in the other
    assert second["cells"] == merged["cells"]  # and the second runner now reports both
