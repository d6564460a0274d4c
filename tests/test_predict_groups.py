"""``textclf predict``/``evaluate`` on a model with a context head: texts read with their group, output in input order.

Also: ``--online`` (each record written as soon as it is read, equal to the batch result) and the one-line refusals
of group options that do not fit the model, and of export, serve and explain for a model with a context head.
"""

from __future__ import annotations

import csv
import json
import os
import random
import select
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from factories import FILLER, NEGATIVE, POSITIVE

from textclf import BagOfEmbeddingsEncoder, FeedForwardContext, RNNContext, TextClassifier, TextclfError
from textclf.checkpoint import model_config
from textclf.cli import main
from textclf.predict import predict_files

WORDS = POSITIVE + NEGATIVE + FILLER
LABELS = ["a", "b", "c"]
HEADS = {
    "feedforward": lambda: FeedForwardContext(d1=1, d2=1),
    "rnn": lambda: RNNContext(hidden_size=4),
    "bidirectional": lambda: RNNContext(hidden_size=4, bidirectional=True),
    "plain": lambda: None,
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small untrained (seeded) models, saved the way textclf fit saves them: three context heads and a plain one."""
    folder = tmp_path_factory.mktemp("groups")
    paths = {}
    for name, head in HEADS.items():
        torch.manual_seed(0)
        model = TextClassifier(BagOfEmbeddingsEncoder(), context=head(), window=3, vocab=["<pad>", "<unk>", *WORDS],
                               labels=LABELS, embedding_dim=8, embedding_mode="random")  # fmt: skip
        paths[name] = folder / f"{name}.ckpt"
        torch.save({"textclf": model_config(model), "state_dict": model.state_dict()}, paths[name])
    return paths


def conversation_rows(seed: int = 0, groups: int = 3, turns: int = 7) -> list[dict[str, str]]:
    """Rows ``{id, conv, turn, text}`` of ``groups`` conversations interleaved at random, turns out of order."""
    rng = random.Random(seed)
    rows = [
        {"conv": f"c{g}", "turn": str(t), "text": " ".join(rng.choices(WORDS, k=rng.randint(1, 6)))}
        for g in range(groups)
        for t in range(1, turns + 1)
    ]
    rng.shuffle(rows)
    return [{"id": f"r{i}", **row} for i, row in enumerate(rows)]


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return path
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def predicted(path: Path) -> tuple[list[dict], np.ndarray]:
    """The records of a JSONL output and their probabilities ``(n, 3)``."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return records, np.array([list(r["probs"].values()) if r["probs"] else [0.0] * 3 for r in records])


def test_grouped_records_come_back_in_input_order_as_predict_proba_gives_them(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    rows = conversation_rows()
    source, out = write_rows(tmp_path / "in.csv", rows), tmp_path / "out.jsonl"
    options = ["--group-column", "conv", "--order-column", "turn", "--id-column", "id", "--keep-columns", "conv"]
    main(["predict", str(checkpoints["feedforward"]), str(source), "-o", str(out), *options, "--no-progress"])
    records, probs = predicted(out)
    assert [(r["id"], r["conv"], r["text"]) for r in records] == [(r["id"], r["conv"], r["text"]) for r in rows]
    assert "turn" not in records[0]  # the order column is read, not copied (unless kept)
    model = TextClassifier.load_from_checkpoint(checkpoints["feedforward"])
    texts, groups, order = ([r[k] for r in rows] for k in ("text", "conv", "turn"))
    expected = model.predict_proba(texts, groups=groups, order=[int(t) for t in order])
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    unordered = model.predict_proba(texts, groups=groups)  # file order within each group: another context
    assert not np.allclose(unordered, expected, atol=1e-6)


def test_a_text_changed_in_one_group_never_changes_another_group(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    rows = conversation_rows()
    changed = [dict(row) for row in rows]
    first_c0 = next(i for i, row in enumerate(rows) if row["conv"] == "c0")
    changed[first_c0]["text"] = "terrible awful boring dull"
    outputs = []
    for name, data in (("same", rows), ("changed", changed)):
        out = tmp_path / f"{name}.jsonl"
        source = write_rows(tmp_path / f"{name}.csv", data)
        predict_files(str(checkpoints["rnn"]), [str(source)], str(out), group_column="conv", progress=False)
        outputs.append(predicted(out)[1])
    other = [i for i, row in enumerate(rows) if row["conv"] != "c0"]
    np.testing.assert_array_equal(outputs[0][other], outputs[1][other])
    assert not np.allclose(outputs[0][first_c0], outputs[1][first_c0], atol=1e-6)


@pytest.mark.parametrize("head", ["feedforward", "rnn"])
def test_online_output_equals_the_batch_output(checkpoints: dict[str, Path], tmp_path: Path, head: str) -> None:
    rows = sorted(conversation_rows(), key=lambda row: int(row["turn"]))  # each group in order, groups interleaved
    source = write_rows(tmp_path / "in.jsonl", rows)
    probs = []
    for online in (False, True):
        out = tmp_path / f"{online}.jsonl"
        predict_files(str(checkpoints[head]), [str(source)], str(out), group_column="conv", online=online,
                      id_column="id", progress=False)  # fmt: skip
        records, p = predicted(out)
        assert [r["id"] for r in records] == [r["id"] for r in rows]
        probs.append(p)
    np.testing.assert_allclose(probs[1], probs[0], atol=1e-5)


def test_online_writes_each_record_as_soon_as_it_is_read(
    checkpoints: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """stdin is one group; each line's prediction is on stdout before the next line is written."""
    read_in, write_in = os.pipe()
    read_out, write_out = os.pipe()
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=os.fdopen(read_in, "rb")))
    monkeypatch.setattr(sys, "stdout", os.fdopen(write_out, "w", encoding="utf-8"))
    run = threading.Thread(
        target=predict_files, args=(str(checkpoints["rnn"]), ["-"], "-"), kwargs={"online": True, "progress": False}
    )
    run.start()
    feed, answers = os.fdopen(write_in, "wb", buffering=0), os.fdopen(read_out, encoding="utf-8")
    lines = ["good film", "bad acting", "the plot was dull"]
    got = []
    try:
        for line in lines:
            feed.write(f"{line}\n".encode())
            assert select.select([answers], [], [], 60)[0], f"no prediction for {line!r} while the input stays open"
            got.append(json.loads(answers.readline()))
    finally:
        feed.close()
        run.join(60)
        sys.stdout.close()
    assert [record["text"] for record in got] == lines
    model = TextClassifier.load_from_checkpoint(checkpoints["rnn"])
    expected = model.predict_proba(lines)  # one group, in line order
    np.testing.assert_allclose([list(r["probs"].values()) for r in got], expected, atol=1e-5)


def test_a_plain_text_input_is_one_group_and_a_bad_line_keeps_its_place(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"good film\ncaf\xc3\xa9 plot\nbad \xff acting\n\nlovely\n")  # UTF-8 with a stray byte
    out = tmp_path / "out.jsonl"
    main(["predict", str(checkpoints["feedforward"]), str(source), "-o", str(out), "--id-column", "line",
          "--no-progress"])  # fmt: skip
    records, probs = predicted(out)
    assert [(r["line"], r["text"], "error" in r) for r in records] == [
        (1, "good film", False),
        (2, "café plot", False),
        (3, None, True),  # an error record in its place, and no text of the group
        (4, "", False),
        (5, "lovely", False),
    ]
    model = TextClassifier.load_from_checkpoint(checkpoints["feedforward"])
    expected = model.predict_proba(["good film", "café plot", "", "lovely"])
    np.testing.assert_allclose(probs[[0, 1, 3, 4]], expected, atol=1e-6)


def test_evaluate_scores_each_text_with_its_group(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    rows = [{**row, "label": LABELS[i % 3]} for i, row in enumerate(conversation_rows())]
    source = write_rows(tmp_path / "labelled.csv", rows)
    report = tmp_path / "report"
    main(["evaluate", str(checkpoints["feedforward"]), str(source), "--group-column", "conv", "--order-column", "turn",
          "--report-dir", str(report)])  # fmt: skip
    scores = json.loads((report / "metrics.json").read_text())
    model = TextClassifier.load_from_checkpoint(checkpoints["feedforward"])
    texts, groups, order = ([r[k] for r in rows] for k in ("text", "conv", "turn"))
    best = model.predict_proba(texts, groups=groups, order=[int(t) for t in order]).argmax(axis=1)
    assert scores["n"] == len(rows)
    assert scores["acc"] == pytest.approx(np.mean([LABELS[b] == r["label"] for b, r in zip(best, rows, strict=True)]))


def one_line_error(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("textclf: error: ")
    return last.removeprefix("textclf: error: ")


@pytest.mark.parametrize(
    ("model", "args", "message"),
    [
        ("bidirectional", ["--group-column", "conv", "--online"], "--online needs a causal context head; "),
        ("plain", ["--group-column", "conv"], "--group-column: {ckpt} has no context head"),
        ("plain", ["--online"], "--online: {ckpt} has no context head"),
        ("feedforward", [], "{csv}: {ckpt} has a context head: pass --group-column"),
        ("feedforward", ["--order-column", "turn"], "--order-column needs --group-column"),
        ("feedforward", ["--group-column", "conv", "--order-column", "turn", "--online"], "--online predicts each"),
        ("feedforward", ["--group-column", "nope"], "{csv}: no group column 'nope' (columns: id, conv, turn, text)"),
    ],
)
def test_group_options_that_do_not_fit_are_one_line_errors(
    checkpoints: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    model: str,
    args: list[str],
    message: str,
) -> None:
    source = write_rows(tmp_path / "in.csv", conversation_rows())
    out = tmp_path / "out.jsonl"
    error = one_line_error(capsys, ["predict", str(checkpoints[model]), str(source), "-o", str(out), *args])
    assert error.startswith(message.format(ckpt=checkpoints[model], csv=source))
    assert not out.exists()


@pytest.mark.parametrize(
    ("cells", "message"),
    [({"conv": ""}, "{csv}, row 2: column 'conv' is empty"), ({"turn": "x"}, "{csv}, row 2: column 'turn' holds 'x'")],
)
def test_an_empty_group_or_an_order_that_is_no_number_names_the_row(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], cells: dict, message: str
) -> None:
    rows = conversation_rows()
    rows[1].update(cells)
    source = write_rows(tmp_path / "in.csv", rows)
    args = ["--group-column", "conv", "--order-column", "turn", "-o", str(tmp_path / "out.jsonl")]
    error = one_line_error(capsys, ["predict", str(checkpoints["feedforward"]), str(source), *args])
    assert error.startswith(message.format(csv=source))


def test_evaluate_refuses_a_missing_or_a_needless_group_column(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_rows(tmp_path / "labelled.csv", [{**row, "label": "a"} for row in conversation_rows()])
    context, plain = checkpoints["feedforward"], checkpoints["plain"]
    error = one_line_error(capsys, ["evaluate", str(context), str(source)])
    assert error.startswith(f"{context} has a context head: pass --group-column")
    error = one_line_error(capsys, ["evaluate", str(plain), str(source), "--group-column", "conv"])
    assert error == f"--group-column: {plain} has no context head, it classifies each text alone"


def test_export_serve_and_explain_refuse_a_context_head_before_any_work(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = checkpoints["feedforward"]
    out = tmp_path / "export"
    error = one_line_error(capsys, ["export", str(ckpt), str(out)])
    assert error.startswith(f"{ckpt} has a context head") and "cannot be exported" in error
    assert not out.exists()
    model = TextClassifier.load_from_checkpoint(ckpt)
    with pytest.raises(
        TextclfError,
        match=r"has a context head: .* would not explain",
    ):
        model.explain(["good film"])
    if "captum" in sys.modules or _importable("captum"):
        error = one_line_error(capsys, ["explain", str(ckpt), "good film", "-o", str(tmp_path / "explained.jsonl")])
        assert error.startswith(f"{ckpt} has a context head") and not (tmp_path / "explained.jsonl").exists()
    if _importable("litserve"):
        from textclf.serve import build_server

        with pytest.raises(TextclfError, match="a request's texts have no groups, so it cannot be served"):
            build_server(str(ckpt))


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
