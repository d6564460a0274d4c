import json
import logging
from pathlib import Path

import pytest
from factories import iter_records, write_file

from textclf.data.encoding import decode, decode_bytes, detect_encoding
from textclf.data.readers import (
    DEFAULT_LINE_PATTERN,
    file_format,
    read_folder,
    read_labelled,
    read_lines,
    read_table,
    require_labels,
)
from textclf.data.splits import TextStream
from textclf.errors import TextclfError

TREC_PATTERN = r"^(?P<label>[^:\s]+):\S+\s+(?P<text>.*)$"


# ---- format detection ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("a.TSV", "tsv"),
        ("a.jsonl", "jsonl"),
        ("a.json", "jsonl"),
        ("a.parquet", "parquet"),
        ("TREC.train", "lines"),
        ("stsa.binary.dev", "lines"),
        ("plain", "lines"),
    ],
)
def test_file_format_by_suffix(tmp_path, name, fmt):
    assert file_format(tmp_path / name) == fmt


def test_file_format_of_a_directory_is_folder(tmp_path):
    assert file_format(tmp_path) == "folder"


# ---- tables --------------------------------------------------------------------------------------------------


def test_csv_with_quoted_commas_and_newlines(tmp_path):
    path = write_file(
        tmp_path / "train.csv",
        'text,label\n"Good, very good",pos\n"Line one\nline two",neg\nplain text,pos\n"She said ""hi""",neg\n',
    )
    texts, labels = read_table(path, "csv", "text", "label")
    assert texts == ["Good, very good", "Line one\nline two", "plain text", 'She said "hi"']
    assert labels == ["pos", "neg", "pos", "neg"]


def test_csv_cells_stay_strings(tmp_path):
    # numeric-looking texts and labels are not turned into numbers ("007" stays "007", "01" stays "01")
    path = write_file(tmp_path / "train.csv", "id,text,label\n1,007,01\n2,42,2\n3,3.50,10\n")
    texts, labels = read_table(path, "csv", "text", "label")
    assert texts == ["007", "42", "3.50"]
    assert labels == ["01", "2", "10"]


def test_csv_numeric_column_with_a_word_after_the_first_chunk(tmp_path):
    # datasets reads CSV in chunks of 10,000 rows; a word in a later chunk must not break a numeric-looking column
    rows = "".join(f"{i},{i % 2}\n" for i in range(10_050)) + "a word,x\n"
    texts, labels = read_table(write_file(tmp_path / "big.csv", "text,label\n" + rows), "csv", "text", "label")
    assert len(texts) == 10_051
    assert (texts[0], texts[-1], labels[-1]) == ("0", "a word", "x")


def test_csv_with_a_leading_index_column(tmp_path):
    path = write_file(tmp_path / "train.csv", ",text,label\n0,hello,a\n1,world,b\n")
    assert read_table(path, "csv", "text", "label") == (["hello", "world"], ["a", "b"])


def test_csv_empty_text_cell_is_kept_for_cleaning(tmp_path):
    path = write_file(tmp_path / "train.csv", 'text,label\n"",pos\nok,neg\n')
    assert read_table(path, "csv", "text", "label") == (["", "ok"], ["pos", "neg"])


def test_csv_missing_label_is_an_error_naming_the_row(tmp_path):
    path = write_file(tmp_path / "train.csv", "text,label\nfine,pos\nno label here,\nok,neg\n")
    with pytest.raises(TextclfError, match=r"train\.csv, row 2: column 'label' is empty"):
        read_table(path, "csv", "text", "label")


def test_tsv_keeps_a_literal_double_quote(tmp_path):
    path = write_file(tmp_path / "dev.tsv", 'sentence\tlabel\nhe said " nothing more\t1\n"quoted" start\t0\n')
    texts, labels = read_table(path, "tsv", "sentence", "label")
    assert texts == ['he said " nothing more', '"quoted" start']
    assert labels == ["1", "0"]


def test_jsonl_with_integer_labels(tmp_path):
    rows = [{"text": "a fine film", "label": 1}, {"text": "dull", "label": 0}, {"text": "great", "label": 2}]
    path = write_file(tmp_path / "train.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    assert read_table(path, "jsonl", "text", "label") == (["a fine film", "dull", "great"], ["1", "0", "2"])


def test_jsonl_null_text_is_an_error_naming_the_line(tmp_path):
    path = write_file(tmp_path / "train.jsonl", '{"text": "a", "label": 1}\n{"text": null, "label": 0}\n')
    with pytest.raises(TextclfError, match=r"train\.jsonl, line 2: column 'text' is empty"):
        read_table(path, "jsonl", "text", "label")


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"review": ["good", "bad", "okay"], "stars": [5, 1, 3]}), path)
    assert read_table(path, "parquet", "review", "stars") == (["good", "bad", "okay"], ["5", "1", "3"])


@pytest.mark.parametrize(
    ("name", "fmt", "content"),
    [
        ("a.csv", "csv", "sentence,label\nhi,1\n"),
        ("a.tsv", "tsv", "sentence\tlabel\nhi\t1\n"),
        ("a.jsonl", "jsonl", '{"sentence": "hi", "label": 1}\n'),
    ],
)
def test_missing_text_column_lists_the_columns(tmp_path, name, fmt, content):
    path = write_file(tmp_path / name, content)
    with pytest.raises(TextclfError, match=r"no text column 'text' \(columns: sentence, label\); set text_column"):
        read_table(path, fmt, "text", "label")


def test_without_a_label_column_texts_are_read_alone(tmp_path):
    path = write_file(tmp_path / "unlabelled.csv", "text\nhello\nworld\n")
    assert read_table(path, "csv", "text", "label") == (["hello", "world"], None)
    assert read_table(path, "csv", "text", None) == (["hello", "world"], None)
    with pytest.raises(TextclfError, match="no label column 'label'; set label_column"):
        require_labels(path, None, "label")


def test_an_unreadable_table_is_a_one_line_error(tmp_path):
    path = write_file(tmp_path / "broken.jsonl", '{"text": "a", "label": 1}\nnot json at all\n')
    with pytest.raises(TextclfError, match=r"broken\.jsonl, line 2: invalid JSON at column 1") as info:
        read_table(path, "jsonl", "text", "label")
    assert "\n" not in str(info.value)


def test_latin1_csv_is_read_with_a_warning(tmp_path, caplog):
    path = write_file(tmp_path / "old.csv", b"text,label\ncaf\xe9 cr\xe8me,pos\nplain,neg\n")
    with caplog.at_level(logging.WARNING, logger="textclf"):
        texts, _ = read_table(path, "csv", "text", "label")
    assert texts == ["café crème", "plain"]
    assert "old.csv is not UTF-8" in caplog.text


def test_csv_with_an_explicit_wrong_encoding_is_an_error(tmp_path):
    path = write_file(tmp_path / "old.csv", b"text,label\ncaf\xe9,pos\n")
    with pytest.raises(TextclfError, match=r"old\.csv: could not read as CSV"):
        read_table(path, "csv", "text", "label", encoding="utf-8")


# ---- encodings -----------------------------------------------------------------------------------------------


def test_utf8_with_bom_drops_the_bom(tmp_path):
    path = write_file(tmp_path / "bom.txt", "\ufeffpos héllo\n".encode())
    assert decode(path) == "pos héllo\n"


def test_latin1_bytes_are_decoded_with_a_logged_warning(tmp_path, caplog):
    path = write_file(tmp_path / "old.txt", b"pos caf\xe9\nneg na\xefve\n")
    with caplog.at_level(logging.WARNING, logger="textclf"):
        texts, labels = read_lines(path)
    assert texts == ["café", "naïve"]
    assert labels == ["pos", "neg"]
    assert "old.txt is not UTF-8 (byte 7, line 1)" in caplog.text


def test_utf8_is_read_without_a_warning(tmp_path, caplog):
    path = write_file(tmp_path / "new.txt", "pos café\n")
    with caplog.at_level(logging.WARNING, logger="textclf"):
        assert read_lines(path) == (["café"], ["pos"])
    assert caplog.text == ""


def test_nel_byte_in_a_cp1252_line_does_not_split_it(tmp_path):
    path = write_file(tmp_path / "rt.txt", b"pos it was good \x85 really\nneg bad\n")
    texts, labels = read_lines(path)
    assert texts == ["it was good \u2026 really", "bad"]  # cp1252: 0x85 is an ellipsis
    assert labels == ["pos", "neg"]


def test_nel_byte_in_a_latin1_line_does_not_split_it(tmp_path, caplog):
    # 0x81 is undefined in cp1252, so this file falls back to latin-1, where 0x85 is U+0085 (NEXT LINE)
    path = write_file(tmp_path / "rt.txt", b"pos odd \x81 byte \x85 here\nneg bad\n")
    with caplog.at_level(logging.WARNING, logger="textclf"):
        texts, labels = read_lines(path)
    assert "reading it as latin-1" in caplog.text
    assert texts == ["odd \x81 byte \x85 here", "bad"]
    assert labels == ["pos", "neg"]


def test_explicit_wrong_encoding_is_an_error_naming_the_line(tmp_path):
    path = write_file(tmp_path / "old.txt", b"pos fine\nneg caf\xe9\n")
    with pytest.raises(TextclfError, match=r"old\.txt: byte 16 \(line 2\) is not valid utf-8"):
        read_lines(path, encoding="utf-8")


def test_unknown_encoding_is_an_error(tmp_path):
    path = write_file(tmp_path / "a.txt", "pos x\n")
    with pytest.raises(TextclfError, match="unknown encoding 'klingon'"):
        read_lines(path, encoding="klingon")


def test_explicit_latin1_reads_without_a_warning(tmp_path, caplog):
    path = write_file(tmp_path / "old.txt", b"pos caf\xe9\n")
    with caplog.at_level(logging.WARNING, logger="textclf"):
        assert read_lines(path, encoding="latin-1") == (["café"], ["pos"])
    assert caplog.text == ""


# ---- label-first lines ---------------------------------------------------------------------------------------


def test_lines_with_the_default_pattern(tmp_path):
    path = write_file(tmp_path / "train.txt", "1 a stirring , funny film\n0 dull\n\n1  two  spaces\r\n")
    texts, labels = read_lines(path)
    assert texts == ["a stirring , funny film", "dull", "two  spaces"]
    assert labels == ["1", "0", "1"]
    assert read_lines(path, DEFAULT_LINE_PATTERN) == (texts, labels)


def test_lines_in_fasttext_format(tmp_path):
    path = write_file(tmp_path / "train.ft", "__label__pos a great film\n__label__neg a dull one\n")
    assert read_lines(path) == (["a great film", "a dull one"], ["pos", "neg"])


def test_lines_with_the_trec_pattern(tmp_path):
    path = write_file(
        tmp_path / "TREC.train",
        "DESC:manner How did serfdom develop ?\nHUM:ind Who killed Gandhi ?\nNUM:date When was it ?\n",
    )
    texts, labels = read_lines(path, TREC_PATTERN)
    assert texts == ["How did serfdom develop ?", "Who killed Gandhi ?", "When was it ?"]
    assert labels == ["DESC", "HUM", "NUM"]


def test_a_non_matching_line_is_an_error_with_its_line_number(tmp_path):
    path = write_file(tmp_path / "train.txt", "pos fine\n\nlonely\nneg ok\n")
    with pytest.raises(TextclfError, match=r"train\.txt, line 3: does not match the line pattern"):
        read_lines(path)


def test_a_pattern_without_a_label_reads_texts_only(tmp_path):
    path = write_file(tmp_path / "rt.pos", "one sentence\nanother one\n")
    assert read_lines(path, r"^(?P<text>.+)$") == (["one sentence", "another one"], None)


@pytest.mark.parametrize(("pattern", "message"), [(r"^(?P<label>\S+)", "needs a named group"), ("(", "invalid")])
def test_bad_patterns_are_user_errors(tmp_path, pattern, message):
    path = write_file(tmp_path / "a.txt", "pos x\n")
    with pytest.raises(TextclfError, match=message):
        read_lines(path, pattern)


# ---- folder tree ---------------------------------------------------------------------------------------------


def test_folder_tree_one_folder_per_label(tmp_path):
    root = tmp_path / "corpus"
    for label, texts in {"pos": ["good film", "great"], "neg": ["bad film"]}.items():
        (root / label).mkdir(parents=True)
        for i, text in enumerate(texts):
            (root / label / f"{i}.txt").write_text(text)
    (root / "pos" / ".DS_Store").write_bytes(b"\x00junk")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.txt").write_text("ignored")
    (root / "README").write_text("a file at the top is not a class")
    (root / "neg" / "latin.txt").write_bytes(b"caf\xe9")
    texts, labels = read_folder(root)
    assert texts == ["bad film", "café", "good film", "great"]
    assert labels == ["neg", "neg", "pos", "pos"]


def test_an_empty_folder_tree_is_an_error(tmp_path):
    (tmp_path / "pos").mkdir()
    with pytest.raises(TextclfError, match="no texts found"):
        read_folder(tmp_path)


def test_decode_bytes_falls_back_quietly_and_detect_encoding_agrees(caplog):
    with caplog.at_level(logging.WARNING, logger="textclf"):
        assert decode_bytes("\ufeffcafé".encode()) == "café"
        assert decode_bytes(b"caf\xe9 \x93q\x94") == "café \u201cq\u201d"  # cp1252
        assert decode_bytes(b"odd \x81") == "odd \x81"  # 0x81 is undefined in cp1252: latin-1
    assert caplog.text == ""  # one document of many: no warning
    assert decode_bytes(b"caf\xe9", "latin-1") == "café"
    assert [detect_encoding(data, "x", warn=False) for data in (b"ok", b"\xe9", b"\x81")] == [
        "utf-8-sig",
        "cp1252",
        "latin-1",
    ]


# ---- one labelled file with the FileDataModule options -------------------------------------------------------


def test_read_labelled_picks_the_reader_by_format(tmp_path):
    csv_file = write_file(tmp_path / "a.csv", "body,tag\nhello,x\nworld,y\n")
    split = read_labelled(csv_file, text_column="body", label_column="tag")
    assert (split.texts, split.labels, split.source) == (["hello", "world"], ["x", "y"], str(csv_file))
    lines = write_file(tmp_path / "a.txt", "__label__x hello\ny world\n")
    assert read_labelled(lines).labels == ["x", "y"]
    with pytest.raises(TextclfError, match="needs a named group"):
        read_labelled(lines, line_pattern=r"^(?P<text>.*)$")
    with pytest.raises(TextclfError, match=r"a\.csv: no label column 'label'"):
        read_labelled(csv_file, text_column="body")


def test_read_labelled_multi_label(tmp_path, caplog):
    lines = write_file(tmp_path / "a.ft", "__label__x __label__y both\n__label__y one\nnone at all\n")
    assert read_labelled(lines, multi_label=True).labels == [["x", "y"], ["y"], []]
    table = write_file(tmp_path / "a.csv", 'text,label\nt1,"a;b"\nt2,"b;c"\n')
    assert read_labelled(table, multi_label=True, label_delimiter=";").labels == [["a", "b"], ["b", "c"]]
    with caplog.at_level(logging.WARNING, logger="textclf"):
        assert read_labelled(table, multi_label=True).labels == [["a;b"], ["b;c"]]
    assert "is label_delimiter ';'" in caplog.text
    with pytest.raises(TextclfError, match="a folder corpus has one label per text"):
        read_labelled(tmp_path, multi_label=True)


def test_read_labelled_with_scratch_streams_the_texts(tmp_path):
    table = write_file(tmp_path / "a.csv", "text,label\nhello,x\nworld,y\n")
    split = read_labelled(table, scratch=tmp_path / "scratch")
    assert isinstance(split.texts, TextStream)
    assert (list(split.texts), split.labels) == (["hello", "world"], ["x", "y"])
    assert any((tmp_path / "scratch").rglob("*.arrow"))


# ---- texts to classify: iter_records -------------------------------------------------------------------------


def _texts(records):
    return [text for text, _ in records]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("in.csv", 'text,label\n"Good, very ""good""",pos\n"two\nlines",neg\n007,x\n,y\n'),
        ("in.tsv", 'text\tlabel\nhe said " nothing\t1\n"quoted" start\t0\n007\t2\n'),
        ("in.jsonl", '{"text": "one", "label": 1}\n\n{"text": "tw\\u00f6", "label": 0}\n'),
        ("old.csv", b"text,label\ncaf\xe9 cr\xe8me \x93q\x94,pos\nplain,neg\n"),
        ("old.tsv", b"text\tlabel\nna\xefve \x81\t1\n"),  # 0x81: latin-1
    ],
)
def test_iter_records_reads_texts_as_training_does(tmp_path, name, content):
    path = write_file(tmp_path / name, content)
    expected, _ = read_table(path, file_format(path), "text", "label")
    assert _texts(iter_records(str(path))) == expected


def test_iter_records_copies_ids_and_kept_columns_from_a_csv(tmp_path):
    path = write_file(tmp_path / "in.csv", "id,text,team\n007,printer on fire,ops\n8,,\n")
    assert list(iter_records(str(path), "text", "id", ["team"])) == [
        ("printer on fire", {"id": "007", "team": "ops"}),  # every cell a string, as in training
        ("", {"id": "8", "team": ""}),
    ]
    with pytest.raises(TextclfError, match=r"in\.csv: no kept column 'owner' \(columns: id, text, team\)"):
        next(iter_records(str(path), fields=["owner"]))


def test_iter_records_reads_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"doc": [7, 3], "body": ["good", "bad"], "lang": ["en", None]}), path)
    assert list(iter_records(str(path), "body", "doc", ["lang"])) == [
        ("good", {"doc": 7, "lang": "en"}),
        ("bad", {"doc": 3, "lang": None}),
    ]
    with pytest.raises(TextclfError, match=r"in\.parquet: no id column 'id' \(columns: doc, body, lang\)"):
        next(iter_records(str(path), "body", "id"))


def test_predict_reads_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from textclf.predict import read_records

    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["good", "bad"]}), path)
    assert list(read_records(str(path), id_column=None)) == [("good", {}), ("bad", {})]


def test_iter_records_jsonl_errors_name_the_line(tmp_path):
    path = write_file(tmp_path / "in.jsonl", '{"text": "a"}\n\n{"text": null}\n')
    records = iter_records(str(path))
    assert next(records) == ("a", {})
    with pytest.raises(TextclfError, match=r"in\.jsonl, line 3: column 'text' is empty"):
        next(records)


def test_iter_records_removes_its_scratch_folder_when_closed(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = write_file(tmp_path / "in.csv", "text\n" + "".join(f"t{i}\n" for i in range(100)))
    records = iter_records(str(path))
    assert next(records) == ("t0", {})
    assert [p.name.startswith("textclf-records-") for p in (tmp_path / "tmp").iterdir()] == [True]
    records.close()
    assert list((tmp_path / "tmp").iterdir()) == []
    assert len(list(iter_records(str(path)))) == 100
    assert list((tmp_path / "tmp").iterdir()) == []


def test_plain_lines_split_on_newline_only(tmp_path):
    path = write_file(tmp_path / "in.txt", b"one \r two\r\nthree \x85 four\n\nfive")
    assert list(iter_records(str(path), id_column="line")) == [
        ("one \r two", {"line": 1}),  # a lone \r stays; a trailing one goes
        ("three \u2026 four", {"line": 2}),  # cp1252, NEL is not a line end
        ("", {"line": 3}),
        ("five", {"line": 4}),
    ]
    with pytest.raises(TextclfError, match=r"in\.txt: --keep-columns needs CSV, TSV or JSONL input"):
        next(iter_records(str(path), fields=["lang"]))


def test_plain_lines_with_a_wrong_encoding_name_the_byte_and_line(tmp_path):
    path = write_file(tmp_path / "in.txt", b"fine\nalso fine\ncaf\xe9\n")
    with pytest.raises(TextclfError, match=r"in\.txt: byte 18 \(line 3\) is not valid utf-8"):
        list(iter_records(str(path), encoding="utf-8"))
    assert _texts(iter_records(str(path), encoding="latin-1"))[-1] == "café"


def test_stdin_lines_fall_back_like_files(monkeypatch, caplog):
    import io
    import sys

    stdin = io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfa \r b\r\ncaf\xc3\xa9\nna\xefve\n\x81\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    with caplog.at_level(logging.WARNING, logger="textclf"):
        assert list(iter_records("-", id_column="n")) == [
            ("a \r b", {"n": 1}),
            ("café", {"n": 2}),
            ("naïve", {"n": 3}),
            ("\x81", {"n": 4}),
        ]
    assert "- is not UTF-8 (byte 18, line 3): reading it as cp1252" in caplog.text
    assert "- is not cp1252 (byte 22, line 4): reading it as latin-1" in caplog.text


def test_iter_records_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(TextclfError, match="input file not found"):
        next(iter_records(str(tmp_path / "nope.csv")))
    path = write_file(tmp_path / "in.csv", "text\na\n")
    with pytest.raises(TextclfError, match="unknown input format 'xml'"):
        next(iter_records(str(path), fmt="xml"))


def test_a_first_row_with_an_extra_field_is_an_error_not_shifted_columns(tmp_path: Path) -> None:
    path = write_file(tmp_path / "extra.csv", "text,label\ngood,pos,extra\nbad,neg\n")
    message = r"extra.csv: the first row after the header has more fields than the header"
    with pytest.raises(TextclfError, match=message):  # pandas would take "good" as an index: texts "pos", "neg"
        read_labelled(path)
    with pytest.raises(TextclfError, match=message):
        list(iter_records(str(path)))


def test_a_header_without_rows_says_so(tmp_path: Path) -> None:
    path = write_file(tmp_path / "header.csv", "text,label\n")
    with pytest.raises(TextclfError, match=r"header.csv: no rows to read"):
        read_labelled(path)


def test_a_folder_given_as_an_input_file_is_named_a_folder(tmp_path: Path) -> None:
    with pytest.raises(TextclfError, match=r"is a folder: give the files in it"):
        next(iter_records(str(tmp_path)))
