"""The evaluation report: scores checked against hand-computed values, and the files it writes."""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassF1Score

from textclf.errors import TextclfError
from textclf.report import write_report
from textclf.tasks import SingleLabel, Task

LABELS = ["a", "b", "c", "d"]
TASK = SingleLabel(LABELS)
# true:      a  a  a  b  b  c      (d never occurs, neither true nor predicted)
# predicted: a  a  b  b  c  c
Y_TRUE = [0, 0, 0, 1, 1, 2]
PROB_TRUE = [0.8, 0.6, 0.3, 0.5, 0.2, 0.9]  # probability given to the true class


def probabilities() -> np.ndarray:
    """Rows whose argmax is the predicted class above, with the true class at PROB_TRUE."""
    predicted = [0, 0, 1, 1, 2, 2]
    prob = np.zeros((6, 4))
    for i, (t, p, q) in enumerate(zip(Y_TRUE, predicted, PROB_TRUE, strict=True)):
        prob[i, t] = q
        if p != t:
            prob[i, p] = 1 - q - 0.05
            prob[i, 3] = 0.05
        else:
            prob[i, (t + 1) % 3] = 1 - q
    return prob


def per_label() -> dict[str, np.ndarray]:
    return TASK.per_label(torch.from_numpy(probabilities()), torch.tensor(Y_TRUE))


def scores(y_true: list[int] | np.ndarray, prob: np.ndarray) -> dict[str, float]:
    return TASK.scores(torch.from_numpy(prob).float(), torch.as_tensor(y_true))


def test_confusion_matrix_rows_are_true_columns_predicted() -> None:
    matrix = per_label()["confusion"]
    assert matrix.tolist() == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_per_class_scores_by_hand() -> None:
    scores = per_label()
    # a: P 2/2 R 2/3 F1 0.8 | b: P 1/2 R 1/2 F1 0.5 | c: P 1/2 R 1/1 F1 2/3 | d: nothing -> 0
    np.testing.assert_allclose(scores["precision"], [1.0, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(scores["recall"], [2 / 3, 0.5, 1.0, 0.0])
    np.testing.assert_allclose(scores["f1"], [0.8, 0.5, 2 / 3, 0.0])
    assert scores["support"].tolist() == [3, 2, 1, 0]


def test_summary_scores_by_hand() -> None:
    values = scores(Y_TRUE, probabilities())
    assert values["n"] == 6
    assert values["acc"] == pytest.approx(4 / 6)
    assert values["f1_macro"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)  # d (absent everywhere) is left out
    assert values["f1_weighted"] == pytest.approx((0.8 * 3 + 0.5 * 2 + 2 / 3 * 1) / 6)
    assert values["loss"] == pytest.approx(-np.mean(np.log(PROB_TRUE)), rel=1e-6)


def test_macro_f1_agrees_with_the_metric_logged_during_test() -> None:
    rng = np.random.default_rng(0)
    prob = rng.dirichlet(np.ones(6), size=200)
    prob[:, 5] = 0  # class 5 is never predicted ...
    prob /= prob.sum(axis=1, keepdims=True)
    y_true = rng.integers(0, 4, size=200)  # ... nor true; class 4 is never true, but is predicted sometimes
    expected = MulticlassF1Score(6, average="macro")(torch.from_numpy(prob), torch.from_numpy(y_true))
    task = SingleLabel([str(i) for i in range(6)])
    assert task.scores(torch.from_numpy(prob).float(), torch.from_numpy(y_true))["f1_macro"] == pytest.approx(
        float(expected), abs=1e-6
    )


def test_write_report_files(tmp_path: Path) -> None:
    texts = (f"text number {i}" for i in range(6))  # a stream, read once
    directory = write_report(tmp_path / "report", TASK, Y_TRUE, probabilities(), texts, {"checkpoint": "x.ckpt"})

    metrics = json.loads((directory / "metrics.json").read_text())
    assert set(metrics) == {"acc", "f1_macro", "f1_weighted", "loss", "n", "checkpoint"}
    assert metrics["n"] == 6 and metrics["checkpoint"] == "x.ckpt"

    with (directory / "per_class.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["label", "precision", "recall", "f1", "support"]
    assert rows[1] == ["a", "1.0000", "0.6667", "0.8000", "3"]
    assert rows[4] == ["d", "0.0000", "0.0000", "0.0000", "0"]

    with (directory / "confusion_matrix.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0][1:] == LABELS and [row[0] for row in rows[1:]] == LABELS
    assert rows[1][1:] == ["2", "1", "0", "0"]

    records = [json.loads(line) for line in (directory / "misclassified.jsonl").read_text().splitlines()]
    assert [(r["index"], r["text"], r["true"], r["predicted"]) for r in records] == [
        (2, "text number 2", "a", "b"),
        (4, "text number 4", "b", "c"),
    ]
    assert list(records[0]["probs"]) == LABELS
    assert records[0]["probs"]["a"] == pytest.approx(0.3)
    assert (directory / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_only_the_plot_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    logger = logging.getLogger("textclf")
    monkeypatch.setattr(logger, "propagate", True)
    with caplog.at_level(logging.INFO, logger="textclf"):
        directory = write_report(tmp_path, TASK, Y_TRUE, probabilities())
    assert not (directory / "confusion_matrix.png").exists()
    assert (directory / "per_class.csv").exists() and (directory / "misclassified.jsonl").exists()
    assert "pip install textclf[report]" in caplog.text
    first = json.loads((directory / "misclassified.jsonl").read_text().splitlines()[0])
    assert first["text"] is None  # no texts given


def test_a_report_folder_that_is_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "rf").write_text("x")
    task = Task.create(["neg", "pos"], multi_label=False)
    with pytest.raises(TextclfError, match=r"rf is a file, not a folder"):
        write_report(tmp_path / "rf", task, np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), None)
    assert (tmp_path / "rf").read_text() == "x"
