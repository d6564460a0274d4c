"""Custom corpora with groups (conversations, documents): group and order columns, group order, splits by group."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from factories import quiet_trainer, sentiment_rows, write_csv, write_file, write_vectors

from textclf import FeedForwardContext, FileDataModule, RNNEncoder, TextClassifier, TextclfError
from textclf.data.splits import LabelledSplit, carve_missing_splits, clean_split

HEADER = ("conversation", "turn", "text", "label")
# two conversations, interleaved and each in reverse turn order
SHUFFLED = [
    ["b", "2", "b two", "pos"],
    ["a", "3", "a three", "neg"],
    ["b", "1", "b one", "neg"],
    ["a", "1", "a one", "pos"],
    ["a", "2", "a two", "neg"],
]


def grouped(tmp_path: Path, train: Path | str, **options: Any) -> FileDataModule:
    options = {"cache_dir": str(tmp_path / "cache"), "batch_size": 4, **options}
    return FileDataModule(str(train), **options)


def conversations(count: int, turns: int = 4, seed: int = 0) -> list[list[str]]:
    """``count`` conversations ``c0``... of ``turns`` rows each, both labels in every one, turns written backwards."""
    rows = sentiment_rows(count * turns, seed)
    return [[f"c{i // turns}", str(turns - i % turns), *row] for i, row in enumerate(rows)]


# ---- reading ---------------------------------------------------------------------------------------------------


def test_a_csv_with_a_header_is_sorted_by_group_then_order_and_carries_meta(tmp_path):
    dm = grouped(tmp_path, write_csv(tmp_path / "t.csv", SHUFFLED, header=HEADER), group_column="conversation",
                 order_column="turn")  # fmt: skip
    split = dm.read_splits()["train"]
    assert split.texts == ["b one", "b two", "a one", "a two", "a three"]  # groups by first appearance
    assert split.labels == ["neg", "pos", "pos", "neg", "neg"]
    assert split.meta == {"group": ["b", "b", "a", "a", "a"], "order": [1, 2, 1, 2, 3]}
    assert [split.row(i) for i in range(5)] == [3, 1, 4, 5, 2]  # messages still name the file's rows


def test_a_headerless_file_takes_the_columns_by_position(tmp_path):
    path = write_file(tmp_path / "t.tsv", "".join("\t".join(row) + "\n" for row in SHUFFLED))
    dm = grouped(tmp_path, path, header=False, group_column=1, order_column="2", text_column=3, label_column=4)
    split = dm.read_splits()["train"]
    assert split.texts == ["b one", "b two", "a one", "a two", "a three"]
    assert split.meta["group"] == ["b", "b", "a", "a", "a"]


def test_jsonl_groups_compare_as_names_and_orders_as_numbers(tmp_path):
    records = [
        {"doc": 7, "n": 2.5, "text": "seven late", "label": "x"},
        {"doc": "7", "n": "1", "text": "seven first", "label": "y"},
        {"doc": 8, "n": 10, "text": "eight ten", "label": "x"},
        {"doc": 8, "n": 9, "text": "eight nine", "label": "y"},
    ]
    path = write_file(tmp_path / "t.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    split = grouped(tmp_path, path, group_column="doc", order_column="n").read_splits()["train"]
    assert split.texts == ["seven first", "seven late", "eight nine", "eight ten"]  # 10 after 9: numbers, not strings
    assert split.meta == {"group": ["7", "7", "8", "8"], "order": [1, 2.5, 9, 10]}


def test_a_parquet_file_is_grouped_too(tmp_path):
    import pandas as pd

    frame = pd.DataFrame(SHUFFLED, columns=list(HEADER)).astype({"turn": int})
    frame.to_parquet(tmp_path / "t.parquet")
    split = grouped(tmp_path, tmp_path / "t.parquet", group_column="conversation", order_column="turn").read_splits()
    assert split["train"].texts == ["b one", "b two", "a one", "a two", "a three"]


def test_without_an_order_column_groups_keep_file_order_and_order_is_the_row(tmp_path):
    split = grouped(tmp_path, write_csv(tmp_path / "t.csv", SHUFFLED, header=HEADER),
                    group_column="conversation").read_splits()["train"]  # fmt: skip
    assert split.texts == ["b two", "b one", "a three", "a one", "a two"]
    assert split.meta["order"] == [1, 3, 2, 4, 5]


def test_equal_orders_keep_file_order_with_a_warning(tmp_path, caplog):
    rows = [["a", "1", "first", "pos"], ["a", "1", "second", "neg"], ["a", "0", "zeroth", "neg"]]
    dm = grouped(tmp_path, write_csv(tmp_path / "t.csv", rows, header=HEADER), group_column="conversation",
                 order_column="turn")  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="textclf"):
        assert dm.read_splits()["train"].texts == ["zeroth", "first", "second"]
    assert "1 row repeats the group and turn of an earlier row (e.g. row 2 repeats row 1: group 'a', turn 1)" in (
        caplog.text
    )


def test_the_meta_goes_into_the_prepared_splits_and_survives_dropped_texts(tmp_path):
    rows = [*conversations(3), ["c9", "1", " ", "pos"]]  # an empty text: dropped with its group and order
    test_rows = [["t1", "2", "good film", "pos"], ["t1", "1", "bad film", "neg"]]
    dm = grouped(tmp_path, write_csv(tmp_path / "train.csv", rows, header=HEADER),
                 val=str(write_csv(tmp_path / "val.csv", conversations(1), header=HEADER)),
                 test=str(write_csv(tmp_path / "test.csv", test_rows, header=HEADER)),
                 group_column="conversation", order_column="turn")  # fmt: skip
    dm.prepare_data()
    train = dm.split_meta("train")
    assert train["group"] == ["c0"] * 4 + ["c1"] * 4 + ["c2"] * 4 and train["order"] == [1, 2, 3, 4] * 3
    assert len(dm.split("train")) == 12
    assert dm.split_meta("test") == {"group": ["t1", "t1"], "order": [1, 2]}
    assert list(dm.split_texts("test")) == ["bad film", "good film"]


def test_the_group_options_are_part_of_the_cache_key(tmp_path):
    path = write_csv(tmp_path / "t.csv", conversations(2), header=HEADER)
    plain = grouped(tmp_path, path)
    by_group = grouped(tmp_path, path, group_column="conversation")
    by_turn = grouped(tmp_path, path, group_column="conversation", order_column="turn")
    assert len({m._cache_path() for m in (plain, by_group, by_turn)}) == 3
    assert all(isinstance(option, str) for option in plain.fingerprint()["options"])  # old entries keep their keys


# ---- splits by group -------------------------------------------------------------------------------------------


def group_split(groups: list[str]) -> LabelledSplit:
    labels = ["pos" if i % 2 else "neg" for i in range(len(groups))]
    meta = {"group": groups, "order": list(range(1, len(groups) + 1))}
    return LabelledSplit([f"text {i}" for i in range(len(groups))], labels, "train.csv", meta=meta)


def carved_groups(splits: dict[str, LabelledSplit]) -> dict[str, set[str]]:
    return {name: set(split.meta["group"]) for name, split in splits.items()}


def test_held_out_splits_take_whole_groups_by_a_seeded_partition():
    groups = [f"g{i}" for i in range(20) for _ in range(i % 3 + 1)]  # groups of 1 to 3 rows
    splits = carve_missing_splits({"train": group_split(groups)}, 0.1, 0.2, seed=0)
    sets = carved_groups(splits)
    assert len(sets["test"]) == 4 and len(sets["val"]) == 2 and len(sets["train"]) == 14  # fractions count groups
    assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"] or sets["val"] & sets["test"])
    assert sum(len(split.labels) for split in splits.values()) == len(groups)
    for split in splits.values():  # every group whole, its rows in order
        assert all(split.meta["group"].count(g) == groups.count(g) for g in set(split.meta["group"]))
        assert split.meta["order"] == sorted(split.meta["order"])
    again = carve_missing_splits({"train": group_split(groups)}, 0.1, 0.2, seed=0)
    assert carved_groups(again) == sets
    other = carve_missing_splits({"train": group_split(groups)}, 0.1, 0.2, seed=1)
    assert carved_groups(other) != sets


def test_identical_texts_in_other_groups_may_go_to_other_splits():
    split = group_split([f"g{i}" for i in range(10) for _ in range(3)])
    split.texts = ["yeah"] * len(split.texts)  # copies are no concern across groups: the group is the unit
    splits = carve_missing_splits({"train": split}, 0.1, 0.1, seed=0)
    assert all(len(s.labels) == 3 for s in (splits["val"], splits["test"]))


def test_a_fold_is_made_of_whole_groups():
    groups = [f"g{i}" for i in range(10) for _ in range(2)]
    folds = [carve_missing_splits({"train": group_split(groups)}, 0.1, 0.1, 0, fold=k, num_folds=5) for k in range(5)]
    tests = [carved_groups(f)["test"] for f in folds]
    assert all(len(t) == 2 for t in tests) and set().union(*tests) == set(groups)
    assert all(not (carved_groups(f)["train"] & carved_groups(f)["test"]) for f in folds)


@pytest.mark.parametrize(
    ("groups", "given", "fold", "message"),
    [
        (["a", "a", "a"], ["test"], None, r"train\.csv: 1 group left, which cannot give a val split: .*a val file"),
        (["a", "a", "b"], [], None, r"train\.csv: 1 group left, which cannot give a val split"),
        (["a", "b", "c"], [], 0, r"train\.csv: 3 groups cannot make 5 folds: folds are made of whole groups"),
    ],
)
def test_too_few_groups_to_carve_is_refused(groups, given, fold, message):
    splits = {"train": group_split(groups), **{name: group_split(["x", "x"]) for name in given}}
    with pytest.raises(TextclfError, match=message):
        carve_missing_splits(splits, 0.1, 0.1, seed=0, fold=fold, num_folds=5)


def test_clean_split_drops_the_meta_of_empty_texts():
    split = group_split(["a", "a", "b"])
    split.texts = ["one", "", "three"]
    assert clean_split(split).meta == {"group": ["a", "b"], "order": [1, 3]}


# ---- errors ------------------------------------------------------------------------------------------------------


def write_rows(tmp_path: Path, rows: list[list[str]], header: tuple[str, ...] = HEADER) -> Path:
    return write_csv(tmp_path / "t.csv", rows, header=header)


@pytest.mark.parametrize(
    ("rows", "options", "message"),
    [
        (SHUFFLED, {"group_column": "dialog"}, r"t\.csv: no group column 'dialog' \(columns: conversation, turn, "
                                               r"text, label\); set group_column$"),
        (SHUFFLED, {"group_column": "conversation", "order_column": "step"}, r"t\.csv: no order column 'step' .*"
                                                                               r"set order_column$"),
        ([["a", "1", "x", "pos"], [" ", "2", "y", "neg"]], {"group_column": "conversation"},
         r"t\.csv, row 2: column 'conversation' is empty$"),
        ([["a", "1", "x", "pos"], ["a", "two", "y", "neg"]], {"group_column": "conversation", "order_column": "turn"},
         r"t\.csv, row 2: column 'turn' holds 'two', not a number \(the order within the group\)$"),
        ([["a", "", "x", "pos"]], {"group_column": "conversation", "order_column": "turn"},
         r"t\.csv, row 1: column 'turn' is empty; the order column needs a number in every row$"),
        ([["a", "inf", "x", "pos"]], {"group_column": "conversation", "order_column": "turn"},
         r"t\.csv, row 1: column 'turn' holds inf, not a finite number"),
    ],
)  # fmt: skip
def test_bad_group_and_order_columns_are_one_line_errors(tmp_path, rows, options, message):
    with pytest.raises(TextclfError, match=message):
        grouped(tmp_path, write_rows(tmp_path, rows), **options).read_splits()


def test_a_headerless_position_out_of_range_names_the_group_column(tmp_path):
    path = write_file(tmp_path / "t.csv", "a,1,x,pos\nb,2,y,neg\n")
    with pytest.raises(TextclfError, match=r"t\.csv, row 1: no column 7 for the group column: the row has 4 columns"):
        grouped(tmp_path, path, header=False, text_column=3, label_column=4, group_column=7).read_splits()


def test_a_jsonl_record_without_the_group_key_names_its_line(tmp_path):
    path = write_file(tmp_path / "t.jsonl", '{"g": 1, "text": "a", "label": "x"}\n\n{"text": "b", "label": "y"}\n')
    with pytest.raises(TextclfError, match=r"t\.jsonl, line 3: no key 'g' \(the group column\)$"):
        grouped(tmp_path, path, group_column="g").read_splits()
    with pytest.raises(TextclfError, match=r"t\.jsonl, line 1: column 'n' holds \[1\], not a number"):
        write_file(path, '{"g": 1, "n": [1], "text": "a", "label": "x"}\n')
        grouped(tmp_path, path, group_column="g", order_column="n").read_splits()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"order_column": "turn"}, r"^data\.order_column is 'turn' but data\.group_column is not set"),
        ({"group_column": "text"}, r"^data\.group_column and data\.text_column are the same column \(text\)$"),
        ({"group_column": "c", "order_column": "c"}, r"^data\.order_column and data\.group_column are the same column"),
        ({"group_column": "c", "format": "lines"}, r"^data\.group_column is for CSV, TSV, JSONL and Parquet files"),
        ({"group_column": "first", "header": False, "text_column": 1, "label_column": 2},
         r"^data\.group_column is 'first': with header: false a column is given by its position"),
    ],
)  # fmt: skip
def test_bad_group_options_are_refused_when_the_module_is_built(tmp_path, options, message):
    with pytest.raises(TextclfError, match=message):
        grouped(tmp_path, "t.csv", **options)


def test_a_lines_file_with_a_group_column_is_refused(tmp_path):
    path = write_file(tmp_path / "t.txt", "pos good film\nneg bad film\n")
    message = r"t\.txt: group_column is for CSV, TSV, JSONL and Parquet files, not a lines file$"
    with pytest.raises(TextclfError, match=message):
        grouped(tmp_path, path, group_column="c").read_splits()


# ---- a sequential model, end to end ------------------------------------------------------------------------------


def test_a_sequential_model_fits_on_a_grouped_csv_and_predicts_groups(tmp_path, one_thread):
    train = write_csv(tmp_path / "train.csv", conversations(12, turns=5), header=HEADER)
    dm = grouped(tmp_path, train, group_column="conversation", order_column="turn",
                 vectors=str(write_vectors(tmp_path / "v.txt")))  # fmt: skip
    model = TextClassifier.for_data(dm, RNNEncoder(hidden_size=4), context=FeedForwardContext(d1=1, d2=1), window=4)
    trainer = quiet_trainer(max_epochs=1, limit_val_batches=1)
    trainer.fit(model, dm)
    assert model.windowing is not None and trainer.state.finished and trainer.global_step > 0
    texts = ["a good film", "really bad", "the plot", "superb acting"]
    labels = model.predict(texts, groups=["x", "y", "x", "y"], order=[2, 1, 1, 2])
    assert len(labels) == 4 and set(labels) <= {"neg", "pos"}
    proba = model.predict_proba(texts, groups=["x", "y", "x", "y"])
    assert proba.shape == (4, 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_the_sequential_recipe_resumes_from_its_last_checkpoint(tmp_path):
    """A stopped sequential run continues with --ckpt_path last (its loader of windows, not of single texts)."""
    from factories import QUIET_TRAINER_ARGS, RECIPES

    from textclf.cli import main

    recipe = [
        "fit",
        "-c",
        str(RECIPES / "custom" / "sequential.yaml"),
        f"--data.init_args.train={write_csv(tmp_path / 'train.csv', conversations(20, turns=5), header=HEADER)}",
        f"--data.init_args.vectors={write_vectors(tmp_path / 'v.txt')}",
        f"--data.init_args.cache_dir={tmp_path / 'cache'}",
        "--data.init_args.batch_size=8",
        "--model.encoder.init_args.hidden_size=4",
        f"--trainer.default_root_dir={tmp_path / 'runs'}",
        *QUIET_TRAINER_ARGS,
    ]
    main([*recipe, "--trainer.max_epochs=1"])
    main([*recipe, "--trainer.max_epochs=2", "--ckpt_path=last"])
    metrics = (tmp_path / "runs" / "custom" / "sequential" / "version_0" / "metrics.csv").read_text()
    assert [line.split(",")[0] for line in metrics.splitlines()[1:] if line.split(",")[0] in "01"][-1] == "1"
