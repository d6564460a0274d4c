"""Multi-label classification: label sets read from files, thresholds, scores, and the CLI end to end."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import FILLER, QUIET_TRAINER_ARGS, RECIPES, quiet_trainer, tiny_data, write_csv, write_vectors

from textclf import FileDataModule, TextClassifier
from textclf.cli import main
from textclf.errors import TextclfError
from textclf.multilabel import initial_thresholds, tune_thresholds
from textclf.tasks import MultiLabel

TOPICS = {"sports": ["good", "great", "fine"], "politics": ["bad", "awful", "poor"], "tech": ["dull", "superb"]}


def labelled_rows(rows: int, seed: int) -> list[tuple[str, list[str]]]:
    """Texts whose labels are the topics whose cue words they contain (any subset, the empty one included)."""
    rng = random.Random(seed)
    out = []
    for _ in range(rows):
        labels = [topic for topic in TOPICS if rng.random() < 0.4]
        words = rng.choices(FILLER, k=rng.randint(2, 8)) + [rng.choice(TOPICS[t]) for t in labels]
        rng.shuffle(words)
        out.append((" ".join(words), labels))
    return out


def write_jsonl(path: Path, rows: int = 120, seed: int = 0) -> Path:
    path.write_text("".join(json.dumps({"text": t, "labels": ls}) + "\n" for t, ls in labelled_rows(rows, seed)))
    return path


def write_delimited_csv(path: Path, rows: int = 120, seed: int = 0) -> Path:
    return write_csv(path, ([t, "|".join(ls)] for t, ls in labelled_rows(rows, seed)), header=["text", "labels"])


# ---- reading ---------------------------------------------------------------------------------------------------


def test_jsonl_lists_csv_cells_and_fasttext_lines_give_the_same_label_sets(tmp_path: Path) -> None:
    rows = labelled_rows(60, seed=3)
    write_jsonl(tmp_path / "a.jsonl", 60, seed=3)
    write_delimited_csv(tmp_path / "b.csv", 60, seed=3)
    (tmp_path / "c.txt").write_text("".join("".join(f"__label__{x} " for x in ls) + t + "\n" for t, ls in rows))
    expected = np.array([[topic in ls for topic in sorted(TOPICS)] for _, ls in rows], dtype=np.uint8)
    for name, delimiter in (("a.jsonl", ","), ("b.csv", "|"), ("c.txt", ",")):
        data = FileDataModule(
            str(tmp_path / name),
            label_column="labels",
            multi_label=True,
            label_delimiter=delimiter,
            cache_dir=str(tmp_path / "cache"),
            val_fraction=0.2,
            test_fraction=0.2,
        )
        assert data.labels == sorted(TOPICS)
        seen = np.concatenate([data.split(s).targets for s in ("train", "val", "test")])
        assert seen.shape == (60, 3)
        assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, expected.tolist()))
        assert data.label_counts == data.split("train").targets.sum(0).tolist()


def test_batches_carry_float_multi_hot_targets(tmp_path: Path) -> None:
    data = FileDataModule(str(write_jsonl(tmp_path / "t.jsonl")), label_column="labels", multi_label=True,
                          cache_dir=str(tmp_path / "cache"))  # fmt: skip
    batch = data.split("train").__getitems__([0, 1, 2])
    assert batch["targets"].dtype == torch.float32 and batch["targets"].shape == (3, 3)


def test_held_out_splits_are_stratified_on_every_label(tmp_path: Path) -> None:
    rng = random.Random(0)
    rows = [{"text": f"text {i}", "labels": ["common"] + (["rare"] if i < 10 else [])} for i in range(300)]
    rng.shuffle(rows)
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    data = FileDataModule(str(tmp_path / "t.jsonl"), label_column="labels", multi_label=True,
                          cache_dir=str(tmp_path / "cache"))  # fmt: skip
    rare = data.labels.index("rare")
    # 10% of the 10 rare texts each: exactly one in val and one in test (a random split puts 0-3 there)
    assert [int(data.split(s).targets[:, rare].sum()) for s in ("train", "val", "test")] == [8, 1, 1]
    assert [len(data.split(s)) for s in ("train", "val", "test")] == [240, 30, 30]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "a", "labels": {"x": 1}}\n', "line 1: column 'labels' holds an object"),
        ('{"text": "good", "labels": ["sports"]}\n{"text": "b", "labels": ["sports", "nope"]}\n', "'nope'"),
    ],
)
def test_bad_label_cells_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    train = tmp_path / "train.jsonl"
    write_jsonl(train)
    (tmp_path / "test.jsonl").write_text(content)
    data = FileDataModule(str(train), test=str(tmp_path / "test.jsonl"), label_column="labels", multi_label=True,
                          cache_dir=str(tmp_path / "cache"))  # fmt: skip
    with pytest.raises(TextclfError, match=message) as error:
        data.prepare()
    assert "\n" not in str(error.value) and "test.jsonl" in str(error.value)


def test_a_folder_corpus_cannot_be_multi_label(tmp_path: Path) -> None:
    (tmp_path / "corpus" / "a").mkdir(parents=True)
    (tmp_path / "corpus" / "a" / "1.txt").write_text("text")
    data = FileDataModule(str(tmp_path / "corpus"), multi_label=True, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(TextclfError, match="one label per text"):
        data.prepare()


# ---- thresholds and scores -------------------------------------------------------------------------------------


def best_f1_by_brute_force(probs: np.ndarray, truth: np.ndarray) -> float:
    best = 0.0
    for t in np.concatenate([np.unique(probs), [1.1]]):
        pred = probs >= t
        tp, fp, fn = (pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()
        best = max(best, 2 * tp / max(2 * tp + fp + fn, 1))
    return best


def test_tuned_thresholds_reach_each_labels_best_f1() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random((200, 5)) < [0.05, 0.2, 0.5, 0.8, 0.0]
    probs = np.clip(truth * 0.3 + rng.random((200, 5)) * 0.7, 0, 1).round(2)  # rounded: many ties
    thresholds = tune_thresholds(torch.tensor(probs), torch.tensor(truth, dtype=torch.float32), torch.full((5,), 0.5))
    for j in range(4):
        pred = probs[:, j] >= thresholds[j].item()
        tp, fp, fn = (pred & truth[:, j]).sum(), (pred & ~truth[:, j]).sum(), (~pred & truth[:, j]).sum()
        assert 2 * tp / (2 * tp + fp + fn) == pytest.approx(best_f1_by_brute_force(probs[:, j], truth[:, j]))
    assert thresholds[4].item() == 0.5  # no positives: the fallback stays


def test_scores_of_a_hand_checked_example() -> None:
    truth = torch.tensor([[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 0]], dtype=torch.float32)
    probs = torch.tensor([[0.9, 0.2, 0.7], [0.6, 0.8, 0.1], [0.1, 0.1, 0.1], [0.8, 0.3, 0.4]])
    task = MultiLabel(["a", "b", "c"])
    scores = task.scores(probs, truth, torch.tensor([0.5, 0.5, 0.5]))
    # predicted sets: {0,2} right, {0,1} vs {1}, {} right, {0} vs {0,1}: tp 4, fp 1, fn 1
    assert scores["acc"] == pytest.approx(0.5)
    assert scores["f1_micro"] == pytest.approx(8 / 10)
    assert scores["f1_macro"] == pytest.approx((4 / 5 + 2 / 3 + 1.0) / 3)
    assert scores["precision_micro"] == pytest.approx(4 / 5) and scores["recall_micro"] == pytest.approx(4 / 5)
    assert scores["hamming_loss"] == pytest.approx(2 / 12)
    assert scores["n"] == 4
    stricter = task.scores(probs, truth, torch.tensor([0.65, 0.5, 0.5]))  # label 0 no longer on row 1
    assert stricter["acc"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("value", "message"),
    [([0.5], "1 values for 3 labels"), ({"nope": 0.3}, "unknown labels"), (1.0, "strictly between"), ("x", "must")],
)
def test_bad_thresholds_are_errors(value: object, message: str) -> None:
    with pytest.raises(TextclfError, match=message):
        initial_thresholds(value, ["a", "b", "c"])  # type: ignore[arg-type]


# ---- end to end through the CLI --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def multilabel_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("multilabel")
    main(
        [
            "fit",
            "-c",
            str(RECIPES / "custom" / "csv.yaml"),
            "-c",
            str(RECIPES / "custom" / "multilabel.yaml"),
            f"--data.init_args.train={write_delimited_csv(root / 'train.csv', rows=400)}",
            f"--data.init_args.test={write_jsonl(root / 'test.jsonl', rows=100, seed=1)}",
            f"--data.init_args.vectors={write_vectors(root / 'vectors.txt')}",
            f"--data.init_args.cache_dir={root / 'cache'}",
            "--data.init_args.batch_size=16",
            "--model.encoder.init_args.hidden_size=16",
            "--model.dropout=0.1",
            "--model.embedding_dropout=0.0",
            "--model.optimizer.init_args.lr=0.01",
            "--model.class_weights=balanced",  # pos_weight: negatives / positives of each label
            "--trainer.max_epochs=12",
            *QUIET_TRAINER_ARGS,
            f"--trainer.default_root_dir={root / 'runs'}",
        ]
    )
    return root


def test_fit_learns_label_sets_and_reports_multi_label_scores(multilabel_run: Path) -> None:
    run = multilabel_run / "runs" / "custom" / "multilabel" / "version_0"
    test = json.loads((run / "test_metrics.json").read_text())
    assert test["test/f1_micro"] > 0.9 and test["test/acc"] > 0.7
    report = json.loads((run / "report" / "metrics.json").read_text())
    assert report["f1_micro"] == pytest.approx(test["test/f1_micro"], abs=1e-6)
    assert report["acc"] == pytest.approx(test["test/acc"], abs=1e-6)
    assert sorted(report["thresholds"]) == sorted(TOPICS)
    with (run / "report" / "per_class.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [row["label"] for row in table] == sorted(TOPICS) and all("threshold" in row for row in table)
    wrong = [json.loads(line) for line in (run / "report" / "misclassified.jsonl").read_text().splitlines()]
    assert all(isinstance(r["true"], list) and set(r["true"]) != set(r["predicted"]) for r in wrong)


def test_the_checkpoint_carries_tuned_thresholds_and_predicts_label_sets(multilabel_run: Path, tmp_path: Path) -> None:
    checkpoint = multilabel_run / "runs" / "custom" / "multilabel" / "version_0" / "checkpoints" / "best.ckpt"
    model = TextClassifier.load_from_checkpoint(checkpoint)
    assert model.multi_label
    thresholds = model.label_thresholds()
    assert thresholds is not None and not np.allclose(thresholds, 0.5)  # tuned on val, saved, restored
    predicted = model.predict(["the film was great and awful", "the film and the plot", "superb plot"])
    assert sorted(predicted[0]) == ["politics", "sports"] and predicted[1] == [] and predicted[2] == ["tech"]
    probs = model.predict_proba(["the film and the plot"])
    assert probs.shape == (1, 3) and probs.sum() < 0.5  # independent sigmoids, not a softmax (sum 1)

    (tmp_path / "in.txt").write_text("great and awful\nthe plot\n")
    main(["predict", str(checkpoint), str(tmp_path / "in.txt"), "-o", str(tmp_path / "out.jsonl"), "--no-progress"])
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(records[0]["labels"]) == ["politics", "sports"] and records[1]["labels"] == []


def test_multi_label_export_keeps_sigmoid_outputs_and_thresholds(multilabel_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from textclf.export import encode_with_vocab, export_checkpoint, load_exported

    checkpoint = multilabel_run / "runs" / "custom" / "multilabel" / "version_0" / "checkpoints" / "best.ckpt"
    export_checkpoint(checkpoint, tmp_path / "out", "onnx")
    model = TextClassifier.load_from_checkpoint(checkpoint)
    thresholds = json.loads((tmp_path / "out" / "thresholds.json").read_text())
    assert list(thresholds) == model.labels
    texts = ["the film was great and awful", "superb", "the plot"]
    vocab = json.loads((tmp_path / "out" / "vocab.json").read_text())
    tokenizer = json.loads((tmp_path / "out" / "tokenizer.json").read_text())
    token_ids, lengths = encode_with_vocab(texts, vocab, tokenizer)
    exported = load_exported(tmp_path / "out" / "model.onnx")(token_ids, lengths)
    assert np.abs(exported - model.predict_proba(texts)).max() <= 1e-4


def test_fine_tuning_a_single_label_model_on_label_sets_trains_a_new_head(tmp_path: Path) -> None:
    from textclf import RNNEncoder

    (tmp_path / "source").mkdir()
    source = tiny_data(tmp_path / "source")
    model = TextClassifier.for_data(source, RNNEncoder(cell="gru", hidden_size=8, pooling="max"))
    trainer = quiet_trainer()
    trainer.fit(model, source)
    trainer.save_checkpoint(tmp_path / "source.ckpt")
    data = FileDataModule(str(write_jsonl(tmp_path / "t.jsonl")), label_column="labels", multi_label=True,
                          init_vocab_from=str(tmp_path / "source.ckpt"), cache_dir=str(tmp_path / "cache"))  # fmt: skip
    tuned = TextClassifier.for_data(data)  # encoder and vectors from the checkpoint
    tuned.setup("fit")  # the hook that copies the checkpoint's weights when training starts
    assert tuned.multi_label and tuned.labels == sorted(TOPICS) and tuned.head.out_features == 3
    assert torch.equal(tuned.encoder.state_dict()["rnn.weight_ih_l0"], model.encoder.state_dict()["rnn.weight_ih_l0"])


def test_label_lists_without_multi_label_are_an_error_not_a_class(tmp_path: Path) -> None:
    data = FileDataModule(str(write_jsonl(tmp_path / "t.jsonl")), label_column="labels", cache_dir=str(tmp_path))
    with pytest.raises(TextclfError, match=r"line 1: column 'labels' holds a list.*set multi_label: true"):
        data.prepare()


def test_a_csv_split_on_another_delimiter_gets_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_delimited_csv(tmp_path / "t.csv")  # "|"-joined cells
    data = FileDataModule(str(path), label_column="labels", multi_label=True, label_delimiter=";",
                          cache_dir=str(tmp_path))  # fmt: skip
    with caplog.at_level("WARNING", logger="textclf"):
        data.prepare()
    assert "is label_delimiter '|'" in caplog.text
