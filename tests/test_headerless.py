"""Tables without a header row (AG News' ``text<TAB>label``): ``header: false`` and 1-based column positions.

Training (the real ``textclf fit`` path), ``textclf evaluate`` and ``textclf predict`` read such a file as they read
the same file with a header; a likely headerless file read with a header is named as such in the error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
from factories import QUIET_TRAINER_ARGS, RECIPES, iter_records, sentiment_rows, write_file, write_vectors

from textclf import FileDataModule, TextclfError
from textclf.cli import main
from textclf.data.readers import read_labelled
from textclf.evaluate import evaluate_file
from textclf.predict import predict_files

HEADERLESS = ["--data.init_args.header=false", "--data.init_args.text_column=1", "--data.init_args.label_column=2"]


def write_tsv(path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] | None = None) -> Path:
    """A TSV file of ``rows``, with ``header`` as its first row when given."""
    lines = ([header] if header else []) + list(rows)
    return write_file(path, "".join("\t".join(cells) + "\n" for cells in lines))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/test TSVs, each once without a header (``*.tsv``) and once with one (``*_header.tsv``)."""
    root = tmp_path_factory.mktemp("headerless")
    for name, rows, seed in (("train", 60, 0), ("test", 20, 1)):
        cells = list(sentiment_rows(rows, seed))
        write_tsv(root / f"{name}.tsv", cells)
        write_tsv(root / f"{name}_header.tsv", cells, ("text", "label"))
    write_vectors(root / "vectors.txt")
    return root


def fit(root: Path, run: str, suffix: str, *extra: str) -> Path:
    """``textclf fit`` with the custom recipe on ``train<suffix>.tsv``/``test<suffix>.tsv``: the run folder."""
    main(
        [
            "fit",
            "-c",
            str(RECIPES / "custom" / "csv.yaml"),
            f"--data.init_args.train={root / f'train{suffix}.tsv'}",
            f"--data.init_args.test={root / f'test{suffix}.tsv'}",
            f"--data.init_args.vectors={root / 'vectors.txt'}",
            f"--data.init_args.cache_dir={root / 'cache'}",
            "--data.init_args.batch_size=8",
            "--model.encoder.init_args.hidden_size=8",
            "--trainer.max_epochs=1",
            f"--trainer.default_root_dir={root / run}",
            *QUIET_TRAINER_ARGS,
            *extra,
        ]
    )
    (metrics,) = (root / run).rglob("test_metrics.json")
    return metrics.parent


@pytest.fixture(scope="module")
def runs(corpus: Path) -> dict[str, Path]:
    """The same corpus trained for one epoch from the headerless files and from the files with a header."""
    return {
        "headerless": fit(corpus, "runs_headerless", "", *HEADERLESS),
        "header": fit(corpus, "runs_header", "_header"),
    }


def test_a_headerless_tsv_trains_as_the_same_file_with_a_header(runs: dict[str, Path]) -> None:
    scores = {name: json.loads((run / "test_metrics.json").read_text()) for name, run in runs.items()}
    for score in scores.values():
        assert score.pop("checkpoint").startswith(str(runs["header"].parents[3]))
    assert scores["headerless"] == scores["header"]
    assert "test/acc" in json.dumps(scores["header"])


def test_header_true_and_false_never_share_a_prepared_data_entry(corpus: Path) -> None:
    options = {"vectors": None, "cache_dir": str(corpus / "cache")}
    headerless = FileDataModule(str(corpus / "train.tsv"), header=False, text_column=1, label_column="2", **options)
    with_header = FileDataModule(str(corpus / "train_header.tsv"), **options)
    as_names = FileDataModule(str(corpus / "train.tsv"), text_column="1", label_column=2, **options)  # header cells
    keys = {module._cache_path() for module in (headerless, with_header, as_names)}
    assert len(keys) == 3
    assert headerless.fingerprint()["options"][1:3] == [1, 2]  # "2" and 2 are one position, one key


def test_evaluate_and_predict_read_a_headerless_file_as_its_header_twin(
    runs: dict[str, Path], corpus: Path, tmp_path: Path
) -> None:
    checkpoint = runs["headerless"] / "checkpoints" / "best.ckpt"
    plain = evaluate_file(
        checkpoint, corpus / "test.tsv", header=False, text_column=1, label_column=2, report_dir=tmp_path / "a"
    )
    named = evaluate_file(checkpoint, corpus / "test_header.tsv", report_dir=tmp_path / "b")
    assert {k: v for k, v in plain.items() if k != "file"} == {k: v for k, v in named.items() if k != "file"}
    main(
        [
            "predict",
            str(checkpoint),
            str(corpus / "test.tsv"),
            "--no-header",
            "--text-column",
            "1",
            "--keep-columns",
            "2",
            "-o",
            str(tmp_path / "a.jsonl"),
        ]
    )
    predict_files(
        str(checkpoint),
        [str(corpus / "test_header.tsv")],
        str(tmp_path / "b.jsonl"),
        keep_columns=["label"],
        progress=False,
    )
    a = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert len(a) == 20 and [r.pop("2") for r in a] == [r.pop("input_label") for r in b] and a == b


def test_the_cli_spells_header_false_two_ways(runs: dict[str, Path], corpus: Path, tmp_path: Path) -> None:
    checkpoint = str(runs["headerless"] / "checkpoints" / "best.ckpt")
    test = str(corpus / "test.tsv")
    main(
        [
            "evaluate",
            checkpoint,
            test,
            "--header",
            "false",
            "--text-column",
            "1",
            "--label-column",
            "2",
            "--report-dir",
            str(tmp_path / "r"),
        ]
    )
    main(["predict", checkpoint, test, "--header=false", "--text_column=1", "-o", str(tmp_path / "p.csv")])
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["n"] == 20
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 21


@pytest.mark.parametrize("command", ["fit", "evaluate", "predict"])
def test_a_likely_headerless_file_is_named_in_the_one_line_error(
    command: str, runs: dict[str, Path], corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = str(runs["headerless"] / "checkpoints" / "best.ckpt")
    train, test = str(corpus / "train.tsv"), str(corpus / "test.tsv")
    args = {
        "fit": [
            "fit",
            "-c",
            str(RECIPES / "custom" / "csv.yaml"),
            f"--data.init_args.train={train}",
            "--data.init_args.vectors=null",
        ],
        "evaluate": ["evaluate", checkpoint, test],
        "predict": ["predict", checkpoint, test],
    }[command]
    with pytest.raises(SystemExit):
        main(args)
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if "error" in line]
    assert len(errors) == 1, captured.err
    assert "no text column 'text' (columns: " in errors[0]
    assert "it looks like it has no header row; pass " in errors[0] and "see docs/custom-corpora.md)" in errors[0]
    assert "predicted" not in captured.err + captured.out


def test_a_header_with_another_name_is_not_called_headerless(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "named.tsv", [["a fine film", "pos"], ["dull", "neg"]], ("sentence", "label"))
    with pytest.raises(TextclfError, match=r"no text column 'text' \(columns: sentence, label\); set text_column$"):
        read_labelled(path)


def test_with_a_header_a_number_is_a_column_name(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "numbered.tsv", [["a fine film", "pos", "x"], ["dull", "neg", "y"]], ("1", "2", "3"))
    assert read_labelled(path, text_column=1, label_column="3").labels == ["x", "y"]
    assert read_labelled(path, header=False, text_column=1, label_column=3).labels == ["3", "x", "y"]


def test_a_position_out_of_range_names_the_file_the_row_and_its_columns(corpus: Path) -> None:
    message = r"train\.tsv, row 1: no column 3 for the label column: the row has 2 columns"
    with pytest.raises(TextclfError, match=message):
        read_labelled(corpus / "train.tsv", header=False, text_column=1, label_column=3)
    with pytest.raises(TextclfError, match=r"train\.tsv, row 1: no column 5 for the kept column: the row has 2 col"):
        next(iter_records(str(corpus / "train.tsv"), 1, None, [5], header=False))


@pytest.mark.parametrize("value", ["text", 0, -1, True])
def test_without_a_header_a_column_is_a_position_from_1(value: object) -> None:
    with pytest.raises(
        TextclfError, match=r"data\.text_column is .*: with header: false a column is given by its posi"
    ):
        FileDataModule("train.tsv", header=False, text_column=value, label_column=2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "content"), [("a.jsonl", '{"text": "x", "label": "y"}\n'), ("a.parquet", None), ("a.txt", "y x\n")]
)
def test_header_false_is_refused_for_formats_without_a_header_row(
    tmp_path: Path, name: str, content: str | None
) -> None:
    path = tmp_path / name
    if content is None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"text": ["x"], "label": ["y"]}), path)
    else:
        write_file(path, content)
    fmt = {"a.jsonl": "jsonl", "a.parquet": "parquet", "a.txt": "lines"}[name]
    with pytest.raises(
        TextclfError, match=rf"{name}: header: false is for CSV and TSV files; a {fmt} file has no header"
    ):
        read_labelled(path, header=False, text_column=1, label_column=2)
    with pytest.raises(TextclfError, match="header: false is for CSV and TSV files"):
        next(iter_records(str(path), 1, header=False))
    with pytest.raises(TextclfError, match=r"data\.header is false, but data\.format is jsonl"):
        FileDataModule("a.jsonl", format="jsonl", header=False, text_column=1, label_column=2)


def test_rows_with_the_wrong_number_of_cells_are_named(tmp_path: Path) -> None:
    long = write_tsv(tmp_path / "long.tsv", [["a b", "pos"], ["c d", "neg", "extra"], ["e f", "pos"]])
    with pytest.raises(TextclfError, match=r"long\.tsv, row 2, line 2: 3 cells where the first row has 2; a TSV cell"):
        read_labelled(long, header=False, text_column=1, label_column=2)
    short = write_file(tmp_path / "short.csv", 'text,label\n"a\nb",pos\n\nno label here\nc,neg\n')
    with pytest.raises(TextclfError, match=r"short\.csv, row 2, line 5: 1 cell where the header has 2$"):
        read_labelled(short)


def test_predict_prints_no_count_before_a_column_error(
    runs: dict[str, Path], corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = str(runs["headerless"] / "checkpoints" / "best.ckpt")
    with pytest.raises(SystemExit):
        main(["predict", checkpoint, str(corpus / "test.tsv"), "--no-header", "--text-column", "3"])
    captured = capsys.readouterr()
    assert "predicted" not in captured.err + captured.out
    assert "test.tsv, row 1: no column 3 for the text column: the row has 2 columns" in captured.err
    one = write_tsv(corpus / "one.tsv", [["a fine film", "pos"]])
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("textclf")
    logger.addHandler(handler)
    try:
        main(["predict", checkpoint, str(one), "--no-header", "--text-column", "1", "-o", str(corpus / "one.jsonl")])
    finally:
        logger.removeHandler(handler)
    assert [m for m in messages if m.startswith("predicted 1 text in ")], messages


@pytest.mark.parametrize(("header", "text", "label"), [(False, 1, 1), (True, "text", "text")])
def test_the_same_column_for_texts_and_labels_is_refused(
    tmp_path: Path, header: bool, text: object, label: object
) -> None:
    """Each text became its own label, then a puzzling "too few examples per class to hold out a test split"."""
    path = tmp_path / "a.tsv"
    path.write_text(("text\tlabel\n" if header else "") + "a good film\tpos\na bad film\tneg\n")
    with pytest.raises(TextclfError, match=r"a\.tsv: text_column and label_column are the same column"):
        read_labelled(path, text_column=text, label_column=label, header=header)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["tsv", "csv"])
def test_a_stray_separator_in_the_first_row_of_a_headerless_file_is_refused(tmp_path: Path, fmt: str) -> None:
    """The first row set three columns, every later row read its missing third cell as "", and "tab" became a class."""
    sep = "\t" if fmt == "tsv" else ","
    path = tmp_path / f"a.{fmt}"
    rows = [f"What is a stray{sep}tab{sep}NUM"] + [f"Who wrote book {i} ?{sep}HUM" for i in range(20)]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(TextclfError, match=r"row 2, line 2: 2 cells where the first row has 3; or is the first row"):
        read_labelled(path, text_column=1, label_column=2, header=False)
    path.write_text(f"a good film{sep}pos{sep}\n" + "".join(f"film {i}{sep}neg{sep}\n" for i in range(20)))
    split = read_labelled(path, text_column=1, label_column=2, header=False)  # an empty last cell in every row: fine
    assert set(split.labels) == {"pos", "neg"}
