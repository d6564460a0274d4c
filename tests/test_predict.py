"""``textclf predict`` at scale: streaming in constant memory, order and ids, top-k, threshold, kept columns."""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import os
import random
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import FILLER, NEGATIVE, POSITIVE, run_script

from textclf import BagOfEmbeddingsEncoder, TextClassifier, TextclfError
from textclf.checkpoint import model_config
from textclf.cli import main
from textclf.data.lines import Line, iter_text_lines
from textclf.inference import encode_texts, predict_proba, token_budget_batches
from textclf.predict import OutputFormat, Unreadable, predict_files, read_records

WORDS = POSITIVE + NEGATIVE + FILLER
LABELS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small, untrained (seeded) three-class model saved the way textclf fit saves it."""
    torch.manual_seed(0)
    model = TextClassifier(
        BagOfEmbeddingsEncoder(),
        vocab=["<pad>", "<unk>", *WORDS],
        labels=LABELS,
        embedding_dim=8,
        embedding_mode="random",
    )
    path = tmp_path_factory.mktemp("predict") / "model.ckpt"
    torch.save({"textclf": model_config(model), "state_dict": model.state_dict()}, path)
    return path


PROBS = np.array([[0.7, 0.2, 0.1], [0.25, 0.4, 0.35]])
RECORDS = [("first", {"id": "x1", "label": "a"}), ("second", {"id": "x2", "label": "c"})]


def written(output: OutputFormat) -> list:
    records = [(text, {k: v for k, v in fields.items() if k in output.input_fields}) for text, fields in RECORDS]
    out = io.StringIO()
    if output.fmt == "csv":
        csv.writer(out).writerow(output.header())
    output.write(out, records, PROBS)
    out.seek(0)
    return list(csv.reader(out)) if output.fmt == "csv" else [json.loads(line) for line in out]


def test_default_records_keep_every_probability_and_rename_clashing_input_fields() -> None:
    first, second = written(OutputFormat(LABELS, input_fields=["id", "label"]))
    assert first == {
        "id": "x1",
        "input_label": "a",
        "text": "first",
        "label": "a",
        "probs": dict(zip(LABELS, PROBS[0], strict=True)),
    }
    assert second["label"] == "b"


def test_threshold_lists_labels_above_it_and_nulls_the_label_when_none_reaches_it() -> None:
    first, second = written(OutputFormat(LABELS, threshold=0.3))
    assert (first["label"], first["labels"]) == ("a", ["a"])
    assert (second["label"], second["labels"]) == ("b", ["b", "c"])  # most probable first
    first, second = written(OutputFormat(LABELS, threshold=0.5))
    assert (first["label"], first["labels"]) == ("a", ["a"])
    assert (second["label"], second["labels"]) == (None, [])


def test_top_k_replaces_the_full_distribution() -> None:
    first, second = written(OutputFormat(LABELS, top_k=2))
    assert "probs" not in first
    assert first["top_k"] == [{"label": "a", "prob": 0.7}, {"label": "b", "prob": 0.2}]
    assert [pair["label"] for pair in second["top_k"]] == ["b", "c"]


def test_csv_output_columns() -> None:
    header, first, second = written(OutputFormat(LABELS, "csv", ["id", "label"], top_k=1, threshold=0.5))
    assert header == ["id", "input_label", "text", "label", "labels", "top1_label", "top1_prob", "error"]
    assert first == ["x1", "a", "first", "a", "a", "a", "0.700000", ""]
    assert second == ["x2", "c", "second", "", "", "b", "0.400000", ""]  # no label reaches 0.5
    header, first, _ = written(OutputFormat(LABELS, "csv"))
    assert header == ["text", "label", "prob_a", "prob_b", "prob_c", "error"]
    assert first == ["first", "a", "0.700000", "0.200000", "0.100000", ""]


def test_read_records_ids_and_kept_columns(tmp_path: Path) -> None:
    table = tmp_path / "in.csv"
    table.write_text("ticket,body,team\nT-9,printer on fire,ops\nT-2,,sales\n")
    assert list(read_records(str(table), "body", "ticket", ["team"])) == [
        ("printer on fire", {"ticket": "T-9", "team": "ops"}),
        ("", {"ticket": "T-2", "team": "sales"}),
    ]
    with pytest.raises(TextclfError, match=r"in\.csv: no id column 'id' \(columns: ticket, body, team\)"):
        list(read_records(str(table), "body", "id"))
    with pytest.raises(TextclfError, match=r"no kept column 'owner'"):
        list(read_records(str(table), "body", keep_columns=["owner"]))

    lines = tmp_path / "in.jsonl"
    lines.write_text('{"id": 7, "text": "one", "lang": "en"}\n\n{"id": 3, "text": "two"}\n{"text": "three"}\n')
    records = read_records(str(lines), id_column="id", keep_columns=["lang"])
    assert next(records) == ("one", {"id": 7, "lang": "en"})
    assert next(records) == ("two", {"id": 3, "lang": None})  # a missing kept key is null
    with pytest.raises(TextclfError, match=r"in\.jsonl, line 4: no id key 'id'"):
        next(records)

    plain = tmp_path / "in.txt"
    plain.write_text("alpha\n\ngamma\n")
    assert list(read_records(str(plain), id_column="line")) == [
        ("alpha", {"line": 1}),
        ("", {"line": 2}),
        ("gamma", {"line": 3}),
    ]
    with pytest.raises(TextclfError, match=r"in\.txt: --keep-columns needs CSV, TSV or JSONL input"):
        list(read_records(str(plain), keep_columns=["lang"]))


def test_predict_command_keeps_ids_and_columns(checkpoint: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"doc": f"d{i}", "text": t, "src": i}) + "\n" for i, t in enumerate(WORDS)))
    out = tmp_path / "out.jsonl"
    main(["predict", str(checkpoint), str(source), "-o", str(out), "--id-column", "doc", "--keep-columns", "src"])
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["doc"], r["src"], r["text"]) for r in records] == [(f"d{i}", i, t) for i, t in enumerate(WORDS)]
    model = TextClassifier.load_from_checkpoint(checkpoint)
    expected = model.predict_proba(WORDS)
    np.testing.assert_allclose([list(r["probs"].values()) for r in records], expected, atol=1e-6)


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--top-k", "0"], "--top-k must be at least 1"), (["--threshold", "1.5"], "--threshold must be a probability")],
)
def test_bad_options_are_one_line_errors(
    checkpoint: Path, options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(checkpoint), *options])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().startswith(f"textclf: error: {message}")


STREAM_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    import textclf.predict
    from textclf.cli import main

    textclf.predict.PROGRESS_SECONDS = 0  # a progress line after every chunk
    checkpoint, small, large, out = sys.argv[1:5]

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    main(["predict", checkpoint, small, "-o", out, "--id-column", "id", "--keep-columns", "n"])
    before = peak_mb()
    main(["predict", checkpoint, large, "-o", out, "--id-column", "id", "--keep-columns", "n"])
    print(before, peak_mb())
    """
)


def test_a_100k_line_file_streams_in_constant_memory_and_keeps_order(checkpoint: Path, tmp_path: Path) -> None:
    rng = random.Random(0)
    ids = [f"doc-{i:06d}" for i in range(100_000)]
    rng.shuffle(ids)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(5, 25))) for _ in ids]
    for name, size in (("small", 10_000), ("large", 100_000)):  # small: more than a chunk, to reach steady state
        with (tmp_path / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text", "n"])
            writer.writerows((ids[i], texts[i], i) for i in range(size))
    out = tmp_path / "out.jsonl"
    args = [str(checkpoint), str(tmp_path / "small.csv"), str(tmp_path / "large.csv"), str(out)]
    result = run_script(STREAM_SCRIPT, *args)
    before, after = map(float, result.stdout.split())
    # Measured: +0 MB streaming; +155 MB with textclf.predict.CHUNK = 10**9 (the whole file as one chunk).
    assert after - before < 60, f"peak RSS grew by {after - before:.0f} MB from 10k to 100k lines"

    with out.open() as handle:
        for i, line in enumerate(handle):
            record = json.loads(line)
            assert (record["id"], record["n"], record["text"]) == (ids[i], str(i), texts[i])
    assert i == 99_999
    progress = [line for line in result.stderr.splitlines() if "texts/s" in line]
    assert len(progress) >= 100_000 // 8192 and progress[-1].startswith("textclf: predicted 100,000 texts in ")


# ---- hostile input: the line reader, error records, bounds, a failed run leaves no output ---------------------


def lines_of(data: bytes, tmp_path: Path, **options) -> list[Line]:
    path = tmp_path / "in.txt"
    path.write_bytes(data)
    return list(iter_text_lines(path, **options))


def test_lines_split_at_newline_only_and_drop_a_crlf_carriage_return(tmp_path: Path) -> None:
    data = "one\r\ntwo\rstill two\x85\u2028\n\nlast\r".encode()
    assert [(line.number, line.text) for line in lines_of(data, tmp_path)] == [
        (1, "one"),
        (2, "two\rstill two\x85\u2028"),  # a lone \r, NEL and LINE SEPARATOR are text
        (3, ""),
        (4, "last"),
    ]
    assert lines_of(b"", tmp_path) == [] and len(lines_of(b"a\n", tmp_path)) == 1
    assert lines_of(codecs.BOM_UTF8 + b"x\n", tmp_path)[0].text == "x"


def test_long_lines_keep_a_bounded_prefix_and_never_a_half_character(tmp_path: Path) -> None:
    data = b"abcd\r\n" + "é".encode() * 5 + b"\n" + b"x" * 100_000 + b"\nend"
    lines = lines_of(data, tmp_path, max_bytes=5)
    assert [(line.text, line.cut) for line in lines] == [("abcd", False), ("éé", True), ("xxxxx", True), ("end", False)]
    assert [line.number for line in lines] == [1, 2, 3, 4]
    assert lines_of(b"abcde\r\nz", tmp_path, max_bytes=5)[0] == Line(1, "abcde", None, False)  # exactly the bound


def test_a_bad_line_of_a_utf8_file_is_an_error_line_and_the_rest_is_read(tmp_path: Path) -> None:
    lines = lines_of("café\n".encode() + b"ok\nbad \xff here\nna\xc3\xafve\n", tmp_path)
    assert [line.text for line in lines] == ["café", "ok", None, "naïve"]
    assert lines[2].error == f"{tmp_path / 'in.txt'}, line 3: byte 13 is not valid UTF-8"


def test_a_legacy_file_is_read_whole_in_its_encoding(tmp_path: Path) -> None:
    assert [line.text for line in lines_of(b"caf\xe9\nna\xefve\n", tmp_path)] == ["café", "naïve"]  # cp1252
    assert [line.text for line in lines_of(b"caf\xe9\n", tmp_path, encoding="latin-1")] == ["café"]
    utf16 = "héllo\r\nbad\rx\nend".encode("utf-16")  # by its byte-order mark
    assert [line.text for line in lines_of(utf16, tmp_path)] == ["héllo", "bad\rx", "end"]


def test_stdin_is_utf8_once_a_utf8_line_was_seen_else_falls_back(tmp_path: Path) -> None:
    def stream(data: bytes) -> list[str | None]:
        return [line.text for line in iter_text_lines("-", stdin=io.BytesIO(data))]

    assert stream("café\n".encode() + b"caf\xe9\nok") == ["café", None, "ok"]
    assert stream(b"ok\ncaf\xe9\nna\xefve\n") == ["ok", "café", "naïve"]  # no UTF-8 before: Windows-1252


@pytest.mark.parametrize("encoding", ["UTF-16LE", "UTF-16BE", "UTF-32LE", "UTF-32BE"])
def test_utf16_or_utf32_without_a_bom_is_refused_naming_its_byte_order(tmp_path: Path, encoding: str) -> None:
    # read as UTF-8 it was 3 garbage records for 2 lines (its NUL bytes kept as text)
    with pytest.raises(TextclfError) as error:
        lines_of("good film\nbad one\n".encode(encoding), tmp_path)
    nul = 1 if encoding.endswith("LE") else 0
    assert str(error.value) == (
        f"{tmp_path / 'in.txt'}: byte {nul} (line 1) is a NUL byte: not a text file, or {encoding} without a "
        f"byte-order mark; convert it to UTF-8 (e.g. iconv -f {encoding} -t UTF-8)"
    )
    with pytest.raises(TextclfError, match=r"in\.txt: byte 3 \(line 2\) is a NUL byte: not a text file, or UTF-16/"):
        lines_of(b"ab\n\x00\x9f\xff\x01", tmp_path)  # binary: no byte order reads it as text


def test_a_later_line_with_a_nul_byte_is_an_error_line(tmp_path: Path) -> None:
    data = b"ok\n" * 3000 + b"good\x00film\nend\n"  # the NUL past the first 8000 bytes
    lines = lines_of(data, tmp_path)
    assert [line.text for line in lines[-3:]] == ["ok", None, "end"]
    assert lines[-2].error == f"{tmp_path / 'in.txt'}, line 3001: byte 9004 is a NUL byte"
    stdin = list(iter_text_lines("-", stdin=io.BytesIO(b"good\x00film\nfine\n")))
    assert stdin == [Line(1, None, "-, line 1: byte 4 is a NUL byte", False), Line(2, "fine", None, False)]
    latin = list(iter_text_lines(tmp_path / "in.txt", encoding="latin-1"))  # an explicit encoding too
    assert latin[-2].text is None and latin[-1].text == "end"


def test_error_records_keep_their_place_in_every_format() -> None:
    records = [("good", {"id": "x1"}), (Unreadable("in.txt, line 2: byte 9 is not valid UTF-8"), {"id": "x2"})]
    for output in (OutputFormat(LABELS, input_fields=["id"]), OutputFormat(LABELS, "csv", ["id"], threshold=0.3)):
        out = io.StringIO()
        output.write(out, records, PROBS)
        rows = out.getvalue().splitlines()
        if output.fmt == "csv":
            assert list(csv.reader(rows)) == [
                ["x1", "good", "a", "a", "0.700000", "0.200000", "0.100000", ""],
                ["x2", "", "", "", "", "", "", "in.txt, line 2: byte 9 is not valid UTF-8"],
            ]
        else:
            assert "error" not in json.loads(rows[0])
            error = "in.txt, line 2: byte 9 is not valid UTF-8"
            assert json.loads(rows[1]) == {"id": "x2", "text": None, "label": None, "probs": None, "error": error}


@pytest.fixture
def log_lines() -> list[str]:
    """The messages textclf logs during the test."""
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("textclf")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    yield messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_bad_lines_become_error_records_named_in_the_log(checkpoint: Path, tmp_path: Path, log_lines: list) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"good film\ncaf\xc3\xa9\n\nbad \xff\nawful\r\n")
    out = tmp_path / "out.csv"
    predict_files(str(checkpoint), [str(source)], str(out), id_column="line")
    rows = list(csv.DictReader(out.open(newline="")))
    assert [(r["line"], r["text"], r["error"] != "") for r in rows] == [
        ("1", "good film", False),
        ("2", "café", False),
        ("3", "", False),  # an empty line is the empty text, predicted
        ("4", "", True),
        ("5", "awful", False),
    ]
    assert rows[3]["label"] == "" and rows[2]["label"] in LABELS
    assert f"{source}, line 4: byte 21 is not valid UTF-8 (written as an error record)" in log_lines
    assert f"{source}: 1 line (4) could not be read, written as error records" in log_lines
    assert log_lines[-1].startswith("predicted 5 texts in ")


def test_a_failed_run_leaves_no_output_and_an_existing_one_untouched(
    checkpoint: Path, tmp_path: Path, log_lines: list
) -> None:
    good, broken = tmp_path / "good.txt", tmp_path / "broken.jsonl"
    good.write_text("good film\n")
    broken.write_text('{"text": "fine"}\n{"text": \n')
    out = tmp_path / "out.jsonl"
    with pytest.raises(TextclfError, match=r"broken\.jsonl, line 2: invalid JSON"):
        predict_files(str(checkpoint), [str(good), str(broken)], str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jsonl", "good.txt"]  # no empty or partial file
    assert not any("predicted" in line for line in log_lines)
    out.write_text("earlier results\n")
    for inputs in ([str(good), str(broken)], [str(good), str(tmp_path / "missing.txt")]):
        with pytest.raises(TextclfError):
            predict_files(str(checkpoint), inputs, str(out))
    assert out.read_text() == "earlier results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jsonl", "good.txt", "out.jsonl"]
    with pytest.raises(TextclfError, match=r"the output .*good\.txt is also an input"):
        predict_files(str(checkpoint), [str(good)], str(good))
    assert good.read_text() == "good film\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
def test_a_named_pipe_as_the_output_is_written_in_place_not_replaced(checkpoint: Path, tmp_path: Path) -> None:
    """-o /dev/null (as root) used to replace the device with a regular file; a FIFO stands for any device."""
    import stat
    import threading

    source, pipe = tmp_path / "in.txt", tmp_path / "out.pipe"
    source.write_text("good film\nbad film\n")
    os.mkfifo(pipe)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_text()), daemon=True)
    reader.start()
    predict_files(str(checkpoint), [str(source)], str(pipe))
    reader.join(timeout=30)
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)  # still a pipe
    assert [json.loads(line)["text"] for line in received[0].splitlines()] == ["good film", "bad film"]


def test_texts_are_cut_to_the_token_limit(checkpoint: Path, tmp_path: Path) -> None:
    model = TextClassifier.load_from_checkpoint(checkpoint)
    long, head = " ".join(WORDS * 50), " ".join(WORDS[:7])
    assert encode_texts(model, [long], 7).lengths.tolist() == [7]
    source = tmp_path / "in.txt"
    source.write_text(f"{long}\n{head}\n")
    out = tmp_path / "out.jsonl"
    predict_files(str(checkpoint), [str(source)], str(out), max_length=7)
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert first["probs"] == second["probs"]  # the long text is predicted on its first 7 tokens
    assert len(first["text"]) == 7 * 64  # and cut to 64 bytes a token before tokenising
    main(["predict", str(checkpoint), str(source), "-o", str(tmp_path / "cli.jsonl"), "--max-length", "7"])
    assert (tmp_path / "cli.jsonl").read_text() == out.read_text()  # the command line sets the same limit
    with pytest.raises(TextclfError, match="--max-length must be at least 1"):
        predict_files(str(checkpoint), [str(source)], str(out), max_length=0)


def test_token_budget_splits_batches_without_changing_results(checkpoint: Path) -> None:
    lengths = np.array([1, 2, 3, 50, 4])
    assert list(token_budget_batches([[0, 1, 2, 4, 3]], lengths, 8)) == [[0, 1], [2, 4], [3]]  # rows x longest <= 8
    model = TextClassifier.load_from_checkpoint(checkpoint)
    texts = [" ".join(WORDS[: i % 20 + 1]) for i in range(40)]
    whole = predict_proba(model, texts, batch_size=40)
    np.testing.assert_allclose(predict_proba(model, texts, batch_size=40, max_tokens=30), whole, atol=1e-6)


def test_nul_bytes_in_predict_input(checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"good\x00film\ngood film\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    out = tmp_path / "out.jsonl"
    predict_files(str(checkpoint), ["-"], str(out), id_column="line", progress=False)
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert first == {"line": 1, "text": None, "label": None, "probs": None, "error": "-, line 1: byte 4 is a NUL byte"}
    assert second["text"] == "good film" and "error" not in second
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("good film\nbad one\n".encode("utf-16-le"))
    with pytest.raises(TextclfError, match=r"utf16\.txt: byte 1 \(line 1\) is a NUL byte: .* UTF-16LE without"):
        predict_files(str(checkpoint), [str(utf16)], str(out), progress=False)


def test_a_model_whose_weights_overflow_is_refused_not_written_as_nan(checkpoint: Path, tmp_path: Path) -> None:
    """Finite weights near float32's limit (a diverged run) gave NaN probabilities, invalid JSON and exit 0."""
    model = TextClassifier.load_from_checkpoint(checkpoint)
    with torch.no_grad():
        model.head.weight.fill_(3.4e38), model.head.bias.fill_(3.4e38)  # finite, at float32's limit
    with pytest.raises(TextclfError, match=r"NaN or infinite probabilities for 2 of 2 texts: its weights overflow"):
        model.predict_proba(["a superb film", "dull"])
