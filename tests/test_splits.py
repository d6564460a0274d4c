import logging
from collections import Counter

import numpy as np
import pytest

from textclf.data.splits import (
    LabelledSplit,
    carve_missing_splits,
    clean_split,
    label_order,
    stratified_folds,
    stratified_holdout,
)
from textclf.errors import TextclfError


def _split(labels, source="train.csv", texts=None):
    texts = texts if texts is not None else [f"text {i}" for i in range(len(labels))]
    return LabelledSplit(list(texts), list(labels), source)


# ---- clean_split ---------------------------------------------------------------------------------------------


def test_clean_split_drops_empty_and_whitespace_texts_and_logs_the_count(caplog):
    split = _split(["a", "b", "a", "b", "a"], texts=["one", "", "two", " \t\n", "three"])
    with caplog.at_level(logging.WARNING, logger="textclf"):
        cleaned = clean_split(split)
    assert cleaned.texts == ["one", "two", "three"]
    assert cleaned.labels == ["a", "a", "a"]
    assert "train.csv: dropped 2 empty or whitespace-only texts (rows 2, 4)" in caplog.text


def test_clean_split_keeps_a_clean_split_silently(caplog):
    split = _split(["a", "b"])
    with caplog.at_level(logging.WARNING, logger="textclf"):
        assert clean_split(split).texts == split.texts
    assert caplog.text == ""


@pytest.mark.parametrize("texts", [[], ["", "  "]])
def test_an_empty_corpus_is_a_user_error(texts):
    with pytest.raises(TextclfError, match=r"train\.csv: no texts"):
        clean_split(_split(["a"] * len(texts), texts=texts))


def test_mismatched_texts_and_labels_are_refused():
    with pytest.raises(ValueError, match=r"2 texts but 1 label$"):
        LabelledSplit(["a", "b"], ["x"], "f")


# ---- label_order ---------------------------------------------------------------------------------------------


def test_labels_are_sorted():
    assert label_order({"train": _split(["pos", "neg", "neutral", "neg"])}, None) == ["neg", "neutral", "pos"]


def test_integer_labels_sort_numerically():
    assert label_order({"train": _split(["10", "2", "1", "2"])}, None) == ["1", "2", "10"]


def test_mixed_labels_sort_as_strings():
    assert label_order({"train": _split(["10", "2", "x"])}, None) == ["10", "2", "x"]


def test_a_fixed_order_is_kept():
    splits = {"train": _split(["neg", "pos"]), "test": _split(["pos"], "test.csv")}
    assert label_order(splits, ["pos", "neg", "neutral"]) == ["pos", "neg", "neutral"]


@pytest.mark.parametrize("name", ["val", "test"])
def test_an_unseen_evaluation_label_names_the_file_and_row(name):
    splits = {"train": _split(["a", "b", "a"]), name: _split(["a", "b", "c", "a"], f"{name}.csv")}
    with pytest.raises(TextclfError, match=rf"{name}\.csv, row 3: label 'c' is not in the training split"):
        label_order(splits, None)


def test_several_unseen_labels_name_the_first_row_and_a_header_read_as_data_is_suspected():
    """ "row 1: labels 'a', 'b', 'c'" named one row but listed labels of many; a header row read as data got no hint."""
    splits = {"train": _split(["a", "b", "a"]), "test": _split(["a", "x", "y", "a"], "test.csv")}
    with pytest.raises(
        TextclfError, match=r"test\.csv: labels 'x', 'y' are not in the training split \(the first at row 2\)$"
    ):
        label_order(splits, None)
    splits = {"train": _split(["a", "b", "a"]), "test": _split(["label", "a", "b"], "test.csv")}
    with pytest.raises(
        TextclfError, match=r"row 1: label 'label' is not in the training split; is row 1 a header row\?$"
    ):
        label_order(splits, None)


def test_the_row_of_an_unseen_label_counts_dropped_empty_texts():
    test = clean_split(_split(["a", "a", "b", "zzz"], "test.csv", texts=["x", "", "y", "z"]))
    with pytest.raises(TextclfError, match=r"test\.csv, row 4:"):
        label_order({"train": _split(["a", "b"]), "test": test}, None)


def test_a_label_outside_a_fixed_list_is_an_error():
    with pytest.raises(TextclfError, match=r"train\.csv, row 2: label 'maybe' is not in the given label list"):
        label_order({"train": _split(["yes", "maybe", "no"])}, ["yes", "no"])


def test_a_single_class_is_an_error():
    with pytest.raises(TextclfError, match="at least 2 classes"):
        label_order({"train": _split(["a", "a"])}, None)


# ---- stratified_holdout --------------------------------------------------------------------------------------

LABELS = ["a"] * 60 + ["b"] * 30 + ["c"] * 10


def test_holdout_is_disjoint_complete_and_keeps_class_proportions():
    kept, held = stratified_holdout(LABELS, 0.2, seed=0)
    assert not set(kept) & set(held)
    assert sorted([*kept, *held]) == list(range(len(LABELS)))
    assert Counter(LABELS[i] for i in held) == {"a": 12, "b": 6, "c": 2}
    assert Counter(LABELS[i] for i in kept) == {"a": 48, "b": 24, "c": 8}


def test_holdout_is_seeded():
    first = stratified_holdout(LABELS, 0.2, seed=7)
    again = stratified_holdout(LABELS, 0.2, seed=7)
    other = stratified_holdout(LABELS, 0.2, seed=8)
    assert np.array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_holdout_takes_at_least_one_and_leaves_at_least_one_of_a_class():
    labels = ["a"] * 50 + ["b"] * 2 + ["c"]
    kept, held = stratified_holdout(labels, 0.1, seed=0)
    held_counts = Counter(labels[i] for i in held)
    assert held_counts["b"] == 1  # round(0.2) = 0, but a class of two gives one
    assert held_counts["c"] == 0  # a single example stays in train
    assert Counter(labels[i] for i in kept)["b"] == 1


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_holdout_fraction_must_be_between_0_and_1(fraction):
    with pytest.raises(TextclfError, match="between 0 and 1"):
        stratified_holdout(LABELS, fraction, seed=0)


# ---- carve_missing_splits ------------------------------------------------------------------------------------


def _texts_of(split):
    return set(split.texts)


def test_carves_test_then_val_from_train():
    train = _split(LABELS)
    splits = carve_missing_splits({"train": train}, val_fraction=0.1, test_fraction=0.2, seed=0)
    assert list(splits) == ["train", "val", "test"]
    assert len(splits["test"].texts) == 20  # 20% of 100
    assert len(splits["val"].texts) == 10  # 10% of the original 100, taken from the 80 left
    assert len(splits["train"].texts) == 70
    parts = [_texts_of(splits[name]) for name in ("train", "val", "test")]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    assert set.union(*parts) == set(train.texts)
    assert splits["val"].source == "train.csv (val hold-out)"
    assert splits["test"].source == "train.csv (test hold-out)"


def test_carving_is_seeded():
    a = carve_missing_splits({"train": _split(LABELS)}, 0.1, 0.1, seed=3)
    b = carve_missing_splits({"train": _split(LABELS)}, 0.1, 0.1, seed=3)
    c = carve_missing_splits({"train": _split(LABELS)}, 0.1, 0.1, seed=4)
    assert a["val"].texts == b["val"].texts and a["test"].texts == b["test"].texts
    assert a["test"].texts != c["test"].texts


def test_only_missing_splits_are_carved():
    train, test = _split(LABELS), _split(["a", "b"], "test.csv")
    splits = carve_missing_splits({"train": train, "test": test}, 0.1, 0.5, seed=0)
    assert splits["test"] is test
    assert len(splits["val"].texts) == 10
    assert len(splits["train"].texts) == 90

    val = _split(["a", "c"], "val.csv")
    splits = carve_missing_splits({"train": train, "val": val, "test": test}, 0.1, 0.1, seed=0)
    assert splits["val"] is val and splits["test"] is test
    assert splits["train"].texts == train.texts


def test_held_out_rows_point_back_to_the_training_file():
    splits = carve_missing_splits({"train": _split(LABELS)}, 0.1, 0.1, seed=0)
    val = splits["val"]
    for i, text in enumerate(val.texts):
        assert text == f"text {val.row(i) - 1}"


def test_a_corpus_too_small_to_hold_out_from_is_a_user_error():
    train = _split(["pos", "pos", "neg"])  # test takes one "pos"; then no class has two examples left
    with pytest.raises(TextclfError, match=r"too few examples per class to hold out a val split"):
        carve_missing_splits({"train": train}, 0.1, 0.1, seed=0)


def test_stratified_folds_partition_and_balance():
    labels = ["a"] * 30 + ["b"] * 20
    folds = stratified_folds(labels, 10, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(50))
    assert all(len(f) == 5 for f in folds)
    assert all(sum(labels[i] == "a" for i in f) == 3 for f in folds)
    assert [f.tolist() for f in folds] == [f.tolist() for f in stratified_folds(labels, 10, seed=0)]


def test_fold_becomes_the_test_split():
    train = _split(LABELS)
    splits = carve_missing_splits({"train": train}, 0.1, 0.1, seed=0, fold=3, num_folds=10)
    folds = stratified_folds(train.labels, 10, seed=1)
    assert sorted(_texts_of(splits["test"])) == sorted(train.texts[i] for i in folds[3])
    assert len(splits["test"].texts) + len(splits["val"].texts) + len(splits["train"].texts) == 100
    with pytest.raises(TextclfError, match="fold must be in"):
        carve_missing_splits({"train": train}, 0.1, 0.1, seed=0, fold=10, num_folds=10)


def test_a_fold_is_refused_when_the_corpus_has_its_own_test_split():
    """Asking for fold 3 of a corpus with a test file used to test on that file silently, as if cross-validating."""
    splits = {"train": _split(LABELS), "test": _split(LABELS[:10], source="test.csv")}
    with pytest.raises(TextclfError, match=r"fold 3 asked, but the corpus has its own test split \(test.csv\)"):
        carve_missing_splits(splits, 0.1, 0.1, seed=0, fold=3, num_folds=10)


def test_meta_follows_its_examples():
    split = LabelledSplit(["a", " ", "c"], ["x", "y", "x"], "d.txt", meta={"conversation": ["c1", "c1", "c2"]})
    cleaned = clean_split(split)
    assert cleaned.meta == {"conversation": ["c1", "c2"]}


# ---- copies of a text -----------------------------------------------------------------------------------------


def test_copies_of_a_text_never_straddle_train_and_a_held_out_split(caplog):
    # 40 distinct texts, each written 3 times (a common state of scraped corpora); one copy with another label
    texts = [f"text {i % 40}" for i in range(120)]
    labels = [("pos" if i % 40 < 20 else "neg") for i in range(120)]
    labels[45] = "neg"  # "text 5" is pos elsewhere
    with caplog.at_level(logging.WARNING, logger="textclf"):
        splits = carve_missing_splits({"train": _split(labels, texts=texts)}, 0.1, 0.1, seed=0)
    parts = {name: set(splits[name].texts) for name in ("train", "val", "test")}
    assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"] and not parts["val"] & parts["test"]
    assert sum(len(splits[name].texts) for name in parts) == 120
    assert len(parts["test"]) == 4 and len(parts["val"]) == 4  # 10% of the 40 distinct texts each, stratified
    assert (
        "80 rows repeat the text of an earlier row (e.g. row 41 repeats row 1), 1 of those texts with another label"
        in caplog.text
    )


def test_copies_stay_together_in_a_cross_validation_fold():
    texts = [f"text {i % 50}" for i in range(100)]
    labels = ["a" if i % 50 < 25 else "b" for i in range(100)]
    splits = carve_missing_splits({"train": _split(labels, texts=texts)}, 0.1, 0.1, seed=0, fold=2, num_folds=10)
    assert not set(splits["test"].texts) & (set(splits["train"].texts) | set(splits["val"].texts))
    assert len(splits["test"].texts) == 10  # 5 distinct texts, twice each


def test_an_empty_fold_is_refused():
    """More folds than texts used to train on an empty test split ("fold 19 of 20 (0 examples)")."""
    train = _split(["a", "b", "a", "b"], texts=["one", "two", "three", "four"])
    with pytest.raises(TextclfError, match=r"fold 7 of 8 is empty: 8 folds are more than its 4 distinct texts"):
        carve_missing_splits({"train": train}, 0.1, 0.1, seed=0, fold=7, num_folds=8)
