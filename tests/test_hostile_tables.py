"""Hostile and messy input files: labels, encodings, line ends and malformed records never become garbage classes or
texts; each is read as documented (docs/custom-corpora.md) or refused with one line naming the file and the row/line.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import logging
import os
import tempfile
import threading
import unicodedata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factories import iter_records, write_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textclf.data.files import FileDataModule
from textclf.data.readers import read_labelled
from textclf.errors import TextclfError


def jsonl(path: Path, rows: list[Any]) -> Path:
    return write_file(path, "".join(json.dumps(row) + "\n" for row in rows))


def parquet(path: Path, table: dict[str, Any]) -> Path:
    pq.write_table(pa.table(table), path)
    return path


def both_ways(path: Path, **options: Any) -> tuple[list[str], list[Any]]:
    """read_labelled in memory and streamed through a scratch folder (as FileDataModule prepares): they must agree."""
    split = read_labelled(path, **options)
    with tempfile.TemporaryDirectory() as scratch:
        streamed = read_labelled(path, scratch=Path(scratch), **options)
        assert (list(streamed.texts), streamed.labels) == (list(split.texts), split.labels)
    return list(split.texts), split.labels


def refused(path: Path, pattern: str, **options: Any) -> str:
    with pytest.raises(TextclfError, match=pattern) as info:
        read_labelled(path, **options)
    message = str(info.value)
    assert "\n" not in message and path.name in message
    return message


# ---- labels: one normalisation in every format ----------------------------------------------------------------


def test_a_nan_label_is_a_missing_label_not_a_class_named_nan(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": NaN}\n')
    refused(path, r"t\.jsonl, line 2: column 'label' is empty \(NaN\)")
    path = parquet(tmp_path / "t.parquet", {"text": ["a", "b", "c"], "label": [1.0, 0.0, float("nan")]})
    refused(path, r"t\.parquet, row 3: column 'label' is empty \(NaN\)")
    with tempfile.TemporaryDirectory() as scratch:  # the path FileDataModule takes
        refused(path, r"row 3: column 'label' is empty", scratch=Path(scratch))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("t.csv", "text,label\na, pos\nb,neg \nc,pos\n"),
        ("t.tsv", "text\tlabel\na\t pos\nb\tneg \nc\tpos\n"),
        ("t.jsonl", '{"text": "a", "label": " pos"}\n{"text": "b", "label": "neg "}\n{"text": "c", "label": "pos"}\n'),
    ],
)
def test_stray_spaces_around_a_label_do_not_make_new_classes(tmp_path: Path, name: str, content: str) -> None:
    assert both_ways(write_file(tmp_path / name, content)) == (["a", "b", "c"], ["pos", "neg", "pos"])


def test_stray_spaces_in_parquet_lines_and_folders(tmp_path: Path) -> None:
    path = parquet(tmp_path / "t.parquet", {"text": ["a", "b"], "label": [" pos", "neg\t"]})
    assert both_ways(path)[1] == ["pos", "neg"]
    path = write_file(tmp_path / "t.txt", "pos | a\nneg  | b\n")
    assert read_labelled(path, line_pattern=r"^(?P<label>[^|]*)\|\s*(?P<text>.*)$").labels == ["pos", "neg"]
    write_file(tmp_path / "corpus" / "pos " / "1.txt", "a")
    write_file(tmp_path / "corpus" / "pos" / "2.txt", "b")
    assert read_labelled(tmp_path / "corpus").labels == ["pos", "pos"]


def test_equal_numbers_are_one_class_and_strings_carry_no_json_quotes(tmp_path: Path) -> None:
    rows = [{"text": "a", "label": 1}, {"text": "b", "label": 1.0}, {"text": "c", "label": "1"}]
    rows += [{"text": "d", "label": 0}, {"text": "e", "label": "neg"}, {"text": "f", "label": 2.5}]
    assert both_ways(jsonl(tmp_path / "t.jsonl", rows))[1] == ["1", "1", "1", "0", "neg", "2.5"]
    # the string "1.0" is a string: kept as written, as in a CSV cell
    assert both_ways(jsonl(tmp_path / "s.jsonl", [{"text": "a", "label": " 1.0 "}]))[1] == ["1.0"]
    assert both_ways(write_file(tmp_path / "t.csv", "text,label\na,1.0\nb,01\n"))[1] == ["1.0", "01"]


def test_a_late_string_in_a_numeric_label_column_is_read_as_written(tmp_path: Path) -> None:
    # datasets infers a column type per block: a string after 20,000 numbers came back as '"neg"' (JSON quotes)
    rows = [{"text": f"t{i}", "label": i % 2} for i in range(20_000)] + [{"text": "x", "label": "neg"}]
    _, labels = both_ways(jsonl(tmp_path / "t.jsonl", rows))
    assert sorted(set(labels)) == ["0", "1", "neg"]


def test_numeric_and_boolean_columns(tmp_path: Path) -> None:
    path = parquet(tmp_path / "f.parquet", {"text": ["a", "b"], "label": [1.0, 2.0]})
    assert both_ways(path)[1] == ["1", "2"]
    path = parquet(tmp_path / "b.parquet", {"text": ["a", "b"], "label": [True, False]})
    assert both_ways(path)[1] == ["true", "false"]
    path = jsonl(tmp_path / "b.jsonl", [{"text": "a", "label": True}, {"text": "b", "label": "false"}])
    assert both_ways(path)[1] == ["true", "false"]


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (None, "is empty"),
        ("", "is empty"),
        (" \t", "is empty"),
        (["a"], "holds a list, not a label; for several labels per text set multi_label: true"),
        ({"a": 1}, "holds a dict, not a label"),
    ],
)
def test_labels_that_are_no_class_name_are_refused_naming_the_line(tmp_path: Path, label: Any, message: str) -> None:
    path = jsonl(tmp_path / "t.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "label": label}])
    refused(path, rf"t\.jsonl, line 2: column 'label' {message}")


def test_infinite_and_missing_labels_are_refused(tmp_path: Path) -> None:
    refused(write_file(tmp_path / "i.jsonl", '{"text": "a", "label": Infinity}\n'), r"line 1: .* holds inf")
    path = jsonl(tmp_path / "m.jsonl", [{"text": "a", "label": "x"}, {"text": "b"}])
    refused(path, r"m\.jsonl, line 2: no key 'label'")
    refused(write_file(tmp_path / "e.csv", "text,label\na,x\nb,\n"), r"e\.csv, row 2: column 'label' is empty")
    path = parquet(tmp_path / "n.parquet", {"text": ["a", "b"], "label": ["x", None]})
    refused(path, r"n\.parquet, row 2: column 'label' is empty")
    refused(write_file(tmp_path / "b.parquet", b""), r"b\.parquet")  # not a Parquet file at all


def test_multi_label_members_get_the_same_normalisation(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "t.jsonl", [{"text": "a", "label": [" x", 1.0, "x", "1"]}, {"text": "b", "label": []}])
    assert both_ways(path, multi_label=True)[1] == [["x", "1"], []]
    path = write_file(tmp_path / "t.csv", "text,label\na, x | y |\nb,\n")
    assert both_ways(path, multi_label=True, label_delimiter="|")[1] == [["x", "y"], []]
    path = jsonl(tmp_path / "n.jsonl", [{"text": "a", "label": ["x", None]}])
    refused(path, r"n\.jsonl, line 1: column 'label' is empty", multi_label=True)


NFC, NFD = "caf\u00e9", "cafe\u0301"  # the same word: é as one code point, and e with a combining acute accent


def test_labels_that_differ_only_by_unicode_normalisation_are_one_class(tmp_path: Path) -> None:
    assert NFC != NFD and unicodedata.normalize("NFC", NFD) == NFC
    path = write_file(tmp_path / "t.csv", f"text,label\na,{NFC}\nb,{NFD}\nc, {NFD} \n")
    assert both_ways(path)[1] == [NFC, NFC, NFC]
    path = write_file(tmp_path / "t.txt", f"{NFD} a\n__label__{NFC} b\n")
    assert read_labelled(path).labels == [NFC, NFC]
    path = jsonl(tmp_path / "m.jsonl", [{"text": "a", "label": [NFD, NFC]}, {"text": "b", "label": f"x,{NFD}"}])
    assert both_ways(path, multi_label=True)[1] == [[NFC], ["x", NFC]]
    path = write_file(tmp_path / "f.txt", f"__label__{NFD} __label__{NFC} a\n")
    assert read_labelled(path, multi_label=True).labels == [[NFC]]
    for name, text in ((NFD, "a"), ("pos", "b")):  # macOS writes file names decomposed
        write_file(tmp_path / "tree" / name / "1.txt", text)
    assert read_labelled(tmp_path / "tree").labels == [NFC, "pos"]


def test_zero_width_characters_in_labels_are_kept(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.csv", "text,label\na,pos\nb,pos\u200b\n")  # as docs/custom-corpora.md says
    assert both_ways(path)[1] == ["pos", "pos\u200b"]


# ---- tables: the header -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "repeated"),
    [
        ("t.csv", "text,label,label\na,x,y\n", r"'label' twice \(columns 2 and 3\)"),
        ("t.csv", "text,text,label\na,b,x\n", r"'text' twice \(columns 1 and 2\)"),
        ("t.tsv", "label\ttext\tlabel\nx\ta\ty\n", r"'label' twice \(columns 1 and 3\)"),
        ("u.csv", "id,text,label,id\n1,a,x,2\n", r"'id' twice"),  # a column textclf does not read: still ambiguous
    ],
)
def test_a_header_that_repeats_a_column_name_is_refused(tmp_path: Path, name: str, content: str, repeated: str) -> None:
    path = write_file(tmp_path / name, content)
    refused(path, rf"{name}: the header names column {repeated}")
    with tempfile.TemporaryDirectory() as scratch:
        refused(path, repeated, scratch=Path(scratch))
    with pytest.raises(TextclfError, match=repeated):
        list(iter_records(str(path)))


def test_a_parquet_schema_that_repeats_a_column_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table([pa.array(["a"]), pa.array(["x"]), pa.array(["y"])], names=["text", "label", "label"]), path
    )
    refused(path, r"t\.parquet: the schema names column 'label' twice \(columns 2 and 3\)")


def test_unnamed_columns_are_not_repeats(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.csv", ",,text,label\n1,2,a,x\n")  # pandas names them "Unnamed: 0", "Unnamed: 1"
    assert both_ways(path) == (["a"], ["x"])


# ---- what is not a regular file ---------------------------------------------------------------------------------


def _unblock(fifo: Path) -> threading.Timer:
    """Opens ``fifo`` for writing after a while and closes it: a reader blocked on it (the bug) then gets EOF."""

    def unblock() -> None:
        with contextlib.suppress(OSError):  # no reader: nothing to unblock
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    timer = threading.Timer(5.0, unblock)
    timer.daemon = True
    timer.start()
    return timer


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/null"), reason="POSIX only")
def test_devices_and_fifos_are_refused_before_reading(tmp_path: Path) -> None:
    # /dev/null stands for /dev/zero and /dev/urandom (same check, but it ends: without the check, a different error)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    link = tmp_path / "linked.jsonl"
    link.symlink_to("/dev/null")
    timer = _unblock(fifo)
    try:
        for path, kind in ((Path("/dev/null"), "a device"), (link, "a device"), (fifo, r"a FIFO \(named pipe\)")):
            for options in ({}, {"fmt": "csv"}, {"encoding": "utf-8"}):
                refused(path, rf"{path.name} is {kind}, not a regular file", **options)
            with pytest.raises(TextclfError, match=rf"{path.name} is {kind}, not a regular file"):
                next(iter_records(str(path)))
        data = FileDataModule(str(fifo), data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
        with pytest.raises(TextclfError, match=r"pipe\.csv is a FIFO"):
            data.setup("fit")
    finally:
        timer.cancel()


# ---- JSONL records ------------------------------------------------------------------------------------------------


def test_json_nested_too_deeply_names_the_line(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    path = write_file(tmp_path / "t.jsonl", f'{{"text": "a", "label": "x"}}\n{{"text": "b", "label": {deep}}}\n')
    message = refused(path, r"t\.jsonl, line 2: nested too deeply")
    assert "recursion" in message
    with pytest.raises(TextclfError, match=r"t\.jsonl, line 2: nested too deeply"):
        list(iter_records(str(path)))
    refused(write_file(tmp_path / "a.json", f"[{deep}]"), r"a\.json: the JSON array is nested too deeply")


def test_a_malformed_json_line_is_named(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.jsonl", '{"text": "a", "label": "x"}\n\n{"text": "b" "label": "y"}\n')
    refused(path, r"t\.jsonl, line 3: invalid JSON at column 14: Expecting ',' delimiter")
    refused(write_file(tmp_path / "a.jsonl", '{"text": "a", "label": "x"}\n["b", "y"]\n'), r"line 2: not a JSON object")
    with pytest.raises(TextclfError, match=r"t\.jsonl, line 3: invalid JSON"):
        list(iter_records(str(path)))


def test_a_json_array_file_is_read_by_item(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.json", '[\n  {"text": "a", "label": 1},\n  {"text": "b", "label": "y "}\n]\n')
    assert both_ways(path) == (["a", "b"], ["1", "y"])
    refused(write_file(tmp_path / "n.json", '[{"text": "a", "label": null}]'), r"n\.json, item 1: column 'label'")


# ---- encodings ------------------------------------------------------------------------------------------------

TEXTS = [
    "café crème",
    "naïve \u2013 \u201cquoted\u201d",
    "plain",
]  # the dash and quotes exist in cp1252, not in latin-1
ENCODINGS = {
    "utf-8": lambda s: s.encode("utf-8"),
    "utf-8 with BOM (Excel 'CSV UTF-8')": lambda s: s.encode("utf-8-sig"),
    "utf-16 LE with BOM (Excel 'Unicode text', Notepad)": lambda s: codecs.BOM_UTF16_LE + s.encode("utf-16-le"),
    "utf-16 BE with BOM": lambda s: codecs.BOM_UTF16_BE + s.encode("utf-16-be"),
    "utf-32 LE with BOM": lambda s: codecs.BOM_UTF32_LE + s.encode("utf-32-le"),
    "utf-32 BE with BOM": lambda s: codecs.BOM_UTF32_BE + s.encode("utf-32-be"),
    "cp1252 (Excel 'CSV' on Windows)": lambda s: s.encode("cp1252"),
}
LAYOUTS = {
    "t.csv": lambda: "text,label\r\n" + "".join(f'"{t}",{i}\r\n' for i, t in enumerate(TEXTS)),
    "t.tsv": lambda: "text\tlabel\n" + "".join(f"{t}\t{i}\n" for i, t in enumerate(TEXTS)),
    "t.jsonl": lambda: "".join(
        json.dumps({"text": t, "label": i}, ensure_ascii=False) + "\n" for i, t in enumerate(TEXTS)
    ),
    "t.txt": lambda: "".join(f"{i} {t}\n" for i, t in enumerate(TEXTS)),
}


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("name", list(LAYOUTS))
def test_the_encodings_editors_and_spreadsheets_write(tmp_path: Path, name: str, encoding: str, caplog) -> None:
    path = write_file(tmp_path / name, ENCODINGS[encoding](LAYOUTS[name]()))
    with caplog.at_level(logging.WARNING, logger="textclf"):
        split = read_labelled(path)
    assert (list(split.texts), split.labels) == (TEXTS, ["0", "1", "2"])
    assert ("reading it as cp1252" in caplog.text) == encoding.startswith("cp1252")
    if name != "t.txt":
        assert [text for text, _ in iter_records(str(path))] == TEXTS


def test_latin1_bytes_outside_cp1252_fall_back_to_latin1(tmp_path: Path, caplog) -> None:
    path = write_file(tmp_path / "t.csv", b"text,label\nabc\x81\xe9,x\n")
    with caplog.at_level(logging.WARNING, logger="textclf"):
        assert read_labelled(path).texts == ["abc\x81é"]
    assert "t.csv is not UTF-8 (byte 14, line 2): reading it as latin-1" in caplog.text


@pytest.mark.parametrize("name", ["t.csv", "t.jsonl", "t.txt"])
def test_a_file_mixing_utf8_and_cp1252_lines_is_refused(tmp_path: Path, name: str) -> None:
    rows = {"t.csv": "{},x\n", "t.jsonl": '{{"text": "{}", "label": "x"}}\n', "t.txt": "x {}\n"}[name]
    header = b"text,label\n" if name == "t.csv" else b""
    data = header + rows.format("café").encode() + rows.format("plain").encode() + rows.format("naïve").encode("cp1252")
    first, bad = (2, 4) if name == "t.csv" else (1, 3)
    refused(write_file(tmp_path / name, data), rf"mixed encodings: line {first} is UTF-8 but line {bad} \(byte \d+\)")
    # also when the cp1252 line comes first, and nothing else is non-ASCII before it
    data = header + rows.format("naïve").encode("cp1252") + rows.format("café").encode()
    refused(write_file(tmp_path / name, data), rf"mixed encodings: line {first + 1} is UTF-8 but line {first} \(")
    # an explicit encoding is the way to read such a file as one encoding
    assert read_labelled(tmp_path / name, encoding="cp1252").texts[-1] == "cafÃ©"


def test_invalid_utf8_with_an_explicit_encoding_names_line_byte_and_encoding(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.jsonl", b'{"text": "a", "label": "x"}\n{"text": "b\xff", "label": "y"}\n')
    refused(path, r"t\.jsonl: byte 39 \(line 2\) is not valid utf-8", encoding="utf-8")
    with pytest.raises(TextclfError, match=r"byte 39 \(line 2\) is not valid utf-8"):
        list(iter_records(str(path), encoding="utf-8"))


def test_nul_bytes_and_utf16_without_a_bom_are_refused(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.csv", "text,label\na,x\n".encode("utf-16-le"))  # no byte-order mark
    refused(path, r"t\.csv: byte 1 \(line 1\) is a NUL byte: .*UTF-16 without a byte-order mark")
    path = write_file(tmp_path / "t.txt", b"x a\nx b\x00c\n")
    refused(path, r"t\.txt: byte 7 \(line 2\) is a NUL byte")


def test_a_broken_utf16_file_names_the_byte_and_the_decoded_line(tmp_path: Path) -> None:
    data = "text,label\n\u010a,x\n".encode("utf-16")  # U+010A holds a 0x0A byte that is no line end
    data += "b,y\n".encode("utf-16-le") + b"\x00\xd8" + "z,y\n".encode("utf-16-le")  # a lone surrogate
    refused(write_file(tmp_path / "t.csv", data), r"t\.csv: byte 40 \(line 4\) is not valid UTF-16")


# ---- line ends ------------------------------------------------------------------------------------------------


def test_a_lone_carriage_return_never_shifts_the_rows(tmp_path: Path) -> None:
    refused(write_file(tmp_path / "u.csv", "text,label\na,x\nb\rc,y\nd,x\n"), r"u\.csv, line 3: a carriage return")
    refused(write_file(tmp_path / "u.tsv", "text\tlabel\na\tx\nb\rc\ty\n"), r"u\.tsv, line 3: a carriage return")
    quoted = write_file(tmp_path / "q.csv", 'text,label\r\n"a\rb",x\r\nc,y\r\n')  # inside quotes: part of the text
    assert both_ways(quoted) == (["a\rb", "c"], ["x", "y"])
    assert read_labelled(write_file(tmp_path / "l.txt", "x a\rb\ny c\r\n")).texts == ["a\rb", "c"]
    mac = write_file(tmp_path / "mac.csv", "text,label\ra,x\rb,y\r")  # classic Mac OS: every line ends in \r
    assert both_ways(mac) == (["a", "b"], ["x", "y"])


def test_a_header_without_rows_is_a_one_line_error(tmp_path: Path) -> None:
    refused(write_file(tmp_path / "h.csv", "text,label\n"), r"h\.csv: no rows to read")
    refused(write_file(tmp_path / "h.jsonl", "\n\n"), r"h\.jsonl: no rows to read")


# ---- property: any text round-trips through every format ------------------------------------------------------

# Any Unicode text (emoji, right-to-left scripts, combining marks, U+2028, NEL, lone \r...), less what a format cannot
# hold: NUL bytes in text files (refused: see above), \n/\r/\t in TSV (no quoting), \n in lines files
PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
FILE_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
TSV_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\t\n\r"), max_size=40)
LABEL = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\t\n\r,"), min_size=1, max_size=8)
LABEL = LABEL.filter(str.strip)


def roundtrip(name: str, write: Any, texts: list[str], labels: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        write(path, texts, labels)
        split = read_labelled(path)
        assert list(split.texts) == texts
        assert split.labels == [unicodedata.normalize("NFC", label.strip()) for label in labels]
        with tempfile.TemporaryDirectory() as scratch:
            streamed = read_labelled(path, scratch=Path(scratch))
            assert (list(streamed.texts), streamed.labels) == (texts, split.labels)
        records = list(iter_records(str(path), id_column="id"))
        assert [text for text, _ in records] == texts
        assert [str(fields["id"]) for _, fields in records] == [str(i) for i in range(len(texts))]


def write_csv_rows(path: Path, texts: list[str], labels: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        writer.writerows([i, text, label] for i, (text, label) in enumerate(zip(texts, labels, strict=True)))


def write_tsv_rows(path: Path, texts: list[str], labels: list[str]) -> None:
    rows = "".join(f"{i}\t{t}\t{label}\n" for i, (t, label) in enumerate(zip(texts, labels, strict=True)))
    write_file(path, "id\ttext\tlabel\n" + rows)


def write_jsonl_rows(path: Path, texts: list[str], labels: list[str]) -> None:
    rows = [{"id": i, "text": t, "label": label} for i, (t, label) in enumerate(zip(texts, labels, strict=True))]
    write_file(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def write_parquet_rows(path: Path, texts: list[str], labels: list[str]) -> None:
    parquet(path, {"id": list(range(len(texts))), "text": texts, "label": labels})


@pytest.mark.parametrize(
    ("name", "write", "text"),
    [
        ("t.csv", write_csv_rows, FILE_TEXT),
        ("t.tsv", write_tsv_rows, TSV_TEXT),
        ("t.jsonl", write_jsonl_rows, ANY_TEXT),
        ("t.parquet", write_parquet_rows, ANY_TEXT),
    ],
)
def test_any_text_and_label_round_trip_in_order(name: str, write: Any, text: Any) -> None:
    @PROPERTY
    @given(st.lists(st.tuples(text, LABEL), min_size=1, max_size=6))
    def check(rows: list[tuple[str, str]]) -> None:
        roundtrip(name, write, [t for t, _ in rows], [label for _, label in rows])

    check()


@PROPERTY
@given(
    st.lists(
        st.tuples(
            st.text("abcxyz019", min_size=1, max_size=4),
            st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\n"), max_size=40),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_text_round_trips_through_label_first_lines(rows: list[tuple[str, str]]) -> None:
    # the text starts after the label's whitespace and keeps every character to the line end (a final \r is the
    # \r\n line end's)
    rows = [(label, "x" + text.rstrip("\r")) for label, text in rows]
    with tempfile.TemporaryDirectory() as folder:
        path = write_file(Path(folder) / "t.txt", "".join(f"{label} {text}\n" for label, text in rows))
        split = read_labelled(path)
        assert (split.texts, split.labels) == ([t for _, t in rows], [label for label, _ in rows])
