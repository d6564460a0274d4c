import json
import logging
from pathlib import Path

import pytest

from textclf.data.readers import (
    DEFAULT_LINE_PATTERN,
    decode,
    detect_format,
    read_folder,
    read_lines,
    read_table,
    require_labels,
)
from textclf.errors import TextclfError

TREC_PATTERN = r"^(?P<label>[^:\s]+):\S+\s+(?P<text>.*)$"


def _write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", newline="")
    return path


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
def test_detect_format_by_suffix(tmp_path, name, fmt):
    assert detect_format(tmp_path / name) == fmt


def test_detect_format_of_a_directory_is_folder(tmp_path):
    assert detect_format(tmp_path) == "folder"


# ---- tables --------------------------------------------------------------------------------------------------


def test_csv_with_quoted_commas_and_newlines(tmp_path):
    path = _write(
        tmp_path / "train.csv",
        'text,label\n"Good, very good",pos\n"Line one\nline two",neg\nplain text,pos\n"She said ""hi""",neg\n',
    )
    texts, labels = read_table(path, "csv", "text", "label")
    assert texts == ["Good, very good", "Line one\nline two", "plain text", 'She said "hi"']
    assert labels == ["pos", "neg", "pos", "neg"]


def test_csv_cells_stay_strings(tmp_path):
    # numeric-looking texts and labels are not turned into numbers ("007" stays "007", "01" stays "01")
    path = _write(tmp_path / "train.csv", "id,text,label\n1,007,01\n2,42,2\n3,3.50,10\n")
    texts, labels = read_table(path, "csv", "text", "label")
    assert texts == ["007", "42", "3.50"]
    assert labels == ["01", "2", "10"]


def test_csv_numeric_column_with_a_word_after_the_first_chunk(tmp_path):
    # datasets reads CSV in chunks of 10,000 rows; a word in a later chunk must not break a numeric-looking column
    rows = "".join(f"{i},{i % 2}\n" for i in range(10_050)) + "a word,x\n"
    texts, labels = read_table(_write(tmp_path / "big.csv", "text,label\n" + rows), "csv", "text", "label")
    assert len(texts) == 10_051
    assert (texts[0], texts[-1], labels[-1]) == ("0", "a word", "x")


def test_csv_with_a_leading_index_column(tmp_path):
    path = _write(tmp_path / "train.csv", ",text,label\n0,hello,a\n1,world,b\n")
    assert read_table(path, "csv", "text", "label") == (["hello", "world"], ["a", "b"])


def test_csv_empty_text_cell_is_kept_for_cleaning(tmp_path):
    path = _write(tmp_path / "train.csv", 'text,label\n"",pos\nok,neg\n')
    assert read_table(path, "csv", "text", "label") == (["", "ok"], ["pos", "neg"])


def test_csv_missing_label_is_an_error_naming_the_row(tmp_path):
    path = _write(tmp_path / "train.csv", "text,label\nfine,pos\nno label here,\nok,neg\n")
    with pytest.raises(TextclfError, match=r"train\.csv, row 2: column 'label' is empty"):
        read_table(path, "csv", "text", "label")


def test_tsv_keeps_a_literal_double_quote(tmp_path):
    path = _write(tmp_path / "dev.tsv", 'sentence\tlabel\nhe said " nothing more\t1\n"quoted" start\t0\n')
    texts, labels = read_table(path, "tsv", "sentence", "label")
    assert texts == ['he said " nothing more', '"quoted" start']
    assert labels == ["1", "0"]


def test_jsonl_with_integer_labels(tmp_path):
    rows = [{"text": "a fine film", "label": 1}, {"text": "dull", "label": 0}, {"text": "great", "label": 2}]
    path = _write(tmp_path / "train.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    assert read_table(path, "jsonl", "text", "label") == (["a fine film", "dull", "great"], ["1", "0", "2"])


def test_jsonl_null_text_is_an_error_naming_the_row(tmp_path):
    path = _write(tmp_path / "train.jsonl", '{"text": "a", "label": 1}\n{"text": null, "label": 0}\n')
    with pytest.raises(TextclfError, match=r"train\.jsonl, row 2: column 'text' is empty"):
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
    path = _write(tmp_path / name, content)
    with pytest.raises(TextclfError, match=r"no text column 'text' \(columns: sentence, label\); set text_column"):
        read_table(path, fmt, "text", "label")


def test_without_a_label_column_texts_are_read_alone(tmp_path):
    path = _write(tmp_path / "unlabelled.csv", "text\nhello\nworld\n")
    assert read_table(path, "csv", "text", "label") == (["hello", "world"], None)
    assert read_table(path, "csv", "text", None) == (["hello", "world"], None)
    with pytest.raises(TextclfError, match="no label column 'label'; set label_column"):
        require_labels(path, None, "label")


def test_an_unreadable_table_is_a_one_line_error(tmp_path):
    path = _write(tmp_path / "broken.jsonl", '{"text": "a", "label": 1}\nnot json at all\n')
    with pytest.raises(TextclfError, match=r"broken\.jsonl: could not read as JSONL") as info:
        read_table(path, "jsonl", "text", "label")
    assert "\n" not in str(info.value)


def test_latin1_csv_is_read_with_a_warning(tmp_path, caplog):
    path = _write(tmp_path / "old.csv", b"text,label\ncaf\xe9 cr\xe8me,pos\nplain,neg\n")
    with caplog.at_level(logging.WARNING, logger="textclf"):
        texts, _ = read_table(path, "csv", "text", "label")
    assert texts == ["café crème", "plain"]
    assert "old.csv is not UTF-8" in caplog.text


def test_csv_with_an_explicit_wrong_encoding_is_an_error(tmp_path):
    path = _write(tmp_path / "old.csv", b"text,label\ncaf\xe9,pos\n")
    with pytest.raises(TextclfError, match=r"old\.csv: could not read as CSV"):
        read_table(path, "csv", "text", "label", encoding="utf-8")


# ---- encodings -----------------------------------------------------------------------------------------------


def test_utf8_with_bom_drops_the_bom(tmp_path):
    path = _write(tmp_path / "bom.txt", "\ufeffpos héllo\n".encode())
    assert decode(path) == "pos héllo\n"


def test_latin1_bytes_are_decoded_with_a_logged_warning(tmp_path, caplog):
    path = _write(tmp_path / "old.txt", b"pos caf\xe9\nneg na\xefve\n")
    with caplog.at_level(logging.WARNING, logger="textclf"):
        texts, labels = read_lines(path)
    assert texts == ["café", "naïve"]
    assert labels == ["pos", "neg"]
    assert "old.txt is not UTF-8 (byte 7, line 1)" in caplog.text


def test_utf8_is_read_without_a_warning(tmp_path, caplog):
    path = _write(tmp_path / "new.txt", "pos café\n")
    with caplog.at_level(logging.WARNING, logger="textclf"):
        assert read_lines(path) == (["café"], ["pos"])
    assert caplog.text == ""


def test_nel_byte_in_a_cp1252_line_does_not_split_it(tmp_path):
    path = _write(tmp_path / "rt.txt", b"pos it was good \x85 really\nneg bad\n")
    texts, labels = read_lines(path)
    assert texts == ["it was good \u2026 really", "bad"]  # cp1252: 0x85 is an ellipsis
    assert labels == ["pos", "neg"]


def test_nel_byte_in_a_latin1_line_does_not_split_it(tmp_path, caplog):
    # 0x81 is undefined in cp1252, so this file falls back to latin-1, where 0x85 is U+0085 (NEXT LINE)
    path = _write(tmp_path / "rt.txt", b"pos odd \x81 byte \x85 here\nneg bad\n")
    with caplog.at_level(logging.WARNING, logger="textclf"):
        texts, labels = read_lines(path)
    assert "reading it as latin-1" in caplog.text
    assert texts == ["odd \x81 byte \x85 here", "bad"]
    assert labels == ["pos", "neg"]


def test_explicit_wrong_encoding_is_an_error_naming_the_line(tmp_path):
    path = _write(tmp_path / "old.txt", b"pos fine\nneg caf\xe9\n")
    with pytest.raises(TextclfError, match=r"old\.txt: byte 16 \(line 2\) is not valid utf-8"):
        read_lines(path, encoding="utf-8")


def test_unknown_encoding_is_an_error(tmp_path):
    path = _write(tmp_path / "a.txt", "pos x\n")
    with pytest.raises(TextclfError, match="unknown encoding 'klingon'"):
        read_lines(path, encoding="klingon")


def test_explicit_latin1_reads_without_a_warning(tmp_path, caplog):
    path = _write(tmp_path / "old.txt", b"pos caf\xe9\n")
    with caplog.at_level(logging.WARNING, logger="textclf"):
        assert read_lines(path, encoding="latin-1") == (["café"], ["pos"])
    assert caplog.text == ""


# ---- label-first lines ---------------------------------------------------------------------------------------


def test_lines_with_the_default_pattern(tmp_path):
    path = _write(tmp_path / "train.txt", "1 a stirring , funny film\n0 dull\n\n1  two  spaces\r\n")
    texts, labels = read_lines(path)
    assert texts == ["a stirring , funny film", "dull", "two  spaces"]
    assert labels == ["1", "0", "1"]
    assert read_lines(path, DEFAULT_LINE_PATTERN) == (texts, labels)


def test_lines_in_fasttext_format(tmp_path):
    path = _write(tmp_path / "train.ft", "__label__pos a great film\n__label__neg a dull one\n")
    assert read_lines(path) == (["a great film", "a dull one"], ["pos", "neg"])


def test_lines_with_the_trec_pattern(tmp_path):
    path = _write(
        tmp_path / "TREC.train",
        "DESC:manner How did serfdom develop ?\nHUM:ind Who killed Gandhi ?\nNUM:date When was it ?\n",
    )
    texts, labels = read_lines(path, TREC_PATTERN)
    assert texts == ["How did serfdom develop ?", "Who killed Gandhi ?", "When was it ?"]
    assert labels == ["DESC", "HUM", "NUM"]


def test_a_non_matching_line_is_an_error_with_its_line_number(tmp_path):
    path = _write(tmp_path / "train.txt", "pos fine\n\nlonely\nneg ok\n")
    with pytest.raises(TextclfError, match=r"train\.txt, line 3: does not match the line pattern"):
        read_lines(path)


def test_a_pattern_without_a_label_reads_texts_only(tmp_path):
    path = _write(tmp_path / "rt.pos", "one sentence\nanother one\n")
    assert read_lines(path, r"^(?P<text>.+)$") == (["one sentence", "another one"], None)


@pytest.mark.parametrize(("pattern", "message"), [(r"^(?P<label>\S+)", "needs a named group"), ("(", "invalid")])
def test_bad_patterns_are_user_errors(tmp_path, pattern, message):
    path = _write(tmp_path / "a.txt", "pos x\n")
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
