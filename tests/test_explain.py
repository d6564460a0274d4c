"""Token attributions (textclf explain, model.explain): completeness, one value per token, padding, HTML, CLI."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
import torch
from factories import tiny_model
from jsonargparse import ArgumentParser

from textclf import checkpoint, explain_cli
from textclf.errors import TextclfError
from textclf.explain import MISSING_EXTRA, explain
from textclf.explain_view import render_html
from textclf.model import TextClassifier
from textclf.tokenize import Tokenizer

VOCAB = ["<pad>", "<unk>", "good", "bad", "film", "the", "was", "not", "<script>"]
TEXTS = ["the film was good", "bad", "the film was not good , not good at all", "good good bad film"]

pytestmark = pytest.mark.usefixtures("one_thread")


def model_for(pooling: str = "last", cell: str = "gru", **options: object) -> TextClassifier:
    encoder = {"cell": cell, "pooling": pooling, "bidirectional": True}
    return tiny_model(VOCAB, labels=("neg", "pos", "mixed"), encoder=encoder, seed=0, **options).eval()


def target_logit(model: TextClassifier, ids: list[int], target: int) -> float:
    """The model's own forward pass (token ids, not embeddings): the target's logit."""
    with torch.no_grad():
        return float(model(torch.tensor([ids]), torch.tensor([len(ids)]))[0, target])


@pytest.mark.parametrize(("cell", "pooling"), [("gru", "last"), ("lstm", "max"), ("lstm", "attention")])
def test_attributions_add_up_to_the_logit_change_from_the_pad_baseline(cell: str, pooling: str) -> None:
    """Completeness: sum(attributions) = logit_t(text) - logit_t(all <pad>), the target's logit, within 1e-3."""
    model = model_for(pooling, cell)
    for record in explain(model, TEXTS, n_steps=200):
        ids = model.vocab.encode(record["tokens"])
        target = model.labels.index(record["target"])
        change = target_logit(model, ids, target) - target_logit(model, [0] * len(ids), target)  # <pad> ids
        tolerance = 1e-3 * max(1.0, abs(change))
        assert abs(sum(record["attributions"]) - change) <= tolerance
        assert abs(record["delta"]) <= tolerance  # Captum's convergence delta says the same
        assert record["logit"] - record["baseline_logit"] == pytest.approx(change, abs=1e-5)
        assert len(record["attributions"]) == len(record["tokens"]) == len(model.tokenizer(record["text"]))


def test_records_name_the_prediction_the_target_and_unknown_words() -> None:
    model = model_for()
    probabilities = model.predict_proba(TEXTS)  # batched, padded
    records = model.explain([*TEXTS, "zzz good"])
    assert [r["text"] for r in records] == [*TEXTS, "zzz good"]
    for record, row in zip(records, probabilities, strict=False):
        assert record["label"] == record["target"] == model.labels[int(row.argmax())]
        assert record["probability"] == pytest.approx(float(row.max()), abs=1e-5)
        assert "attention" not in record  # pooling "last" has no attention weights
    assert records[-1]["tokens"] == ["zzz", "good"] and records[-1]["unknown"] == [0]  # the model saw <unk>
    chosen = model.explain(TEXTS[:2], target="mixed")
    assert [r["target"] for r in chosen] == ["mixed", "mixed"]
    assert [r["target"] for r in model.explain(TEXTS[:2], target=["neg", 1])] == ["neg", "pos"]
    with pytest.raises(TextclfError, match="'happy' is not a label of this model"):
        model.explain(TEXTS[:1], target="happy")


def test_a_text_is_explained_the_same_alone_and_among_longer_texts() -> None:
    model = model_for("attention", "lstm")
    alone = model.explain([TEXTS[1]])[0]
    among = model.explain([TEXTS[2], TEXTS[1], TEXTS[0]])[1]
    assert among["attributions"] == pytest.approx(alone["attributions"], abs=1e-6)
    assert among["attention"] == pytest.approx(alone["attention"], abs=1e-6)
    assert among["probability"] == pytest.approx(alone["probability"], abs=1e-6)


def test_attention_pooling_gives_weights_per_token_summing_to_one() -> None:
    model = model_for("attention", "lstm")
    for record in model.explain(TEXTS):
        assert len(record["attention"]) == len(record["tokens"])
        assert sum(record["attention"]) == pytest.approx(1.0, abs=1e-5)
        assert all(w >= 0 for w in record["attention"])


def test_multi_label_explains_the_most_probable_label() -> None:
    model = model_for(multi_label=True)
    probabilities = model.predict_proba(TEXTS)
    for record, row in zip(model.explain(TEXTS, n_steps=100), probabilities, strict=True):
        assert record["target"] == model.labels[int(row.argmax())]
        assert isinstance(record["label"], list)
        assert abs(record["delta"]) <= 1e-3 * max(1.0, abs(record["logit"] - record["baseline_logit"]))


def test_html_view_escapes_user_text() -> None:
    model = model_for(tokenizer=Tokenizer("whitespace"))
    text = "<script>alert(1)</script> good <img src=x onerror=alert(2)>"
    records = model.explain([text, "<script>"])
    assert records[1]["tokens"] == ["<script>"] and records[1]["unknown"] == []
    page = render_html(records)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img" in page


def saved_checkpoint(model: TextClassifier, path: Path) -> Path:
    state = {"state_dict": model.state_dict()}
    checkpoint.add_section(model, state)
    torch.save(state, path)
    return path


def parse(args: list[str]) -> object:
    parser = ArgumentParser(exit_on_error=False)
    explain_cli.add_arguments(parser)
    return parser.parse_args(args)


def test_cli_writes_a_jsonl_record_per_text_and_the_html_view(tmp_path: Path) -> None:
    path = saved_checkpoint(model_for("attention", "lstm"), tmp_path / "m.ckpt")
    questions = tmp_path / "texts.txt"
    questions.write_text("bad film\n<b>good</b>\n", encoding="utf-8")
    out, page = tmp_path / "out.jsonl", tmp_path / "view.html"
    explain_cli.run(parse([str(path), "the film was good", str(questions), "-o", str(out), "--html", str(page)]))
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in records] == ["the film was good", "bad film", "<b>good</b>"]
    keys = {"text", "tokens", "attributions", "label", "target", "probability", "delta", "attention"}
    assert all(keys <= set(r) for r in records)
    html = page.read_text(encoding="utf-8")
    assert "&lt;b&gt;good&lt;/b&gt;" in html and "<b>" not in html
    again = parse([str(path), "bad film", "--target", "mixed", "--n-steps", "20", "-o", str(out)])
    explain_cli.run(again)
    assert json.loads(out.read_text(encoding="utf-8"))["target"] == "mixed"


def test_a_missing_captum_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "captum.attr", None)  # import captum.attr raises ImportError
    with pytest.raises(TextclfError) as error:
        model_for().explain(TEXTS[:1])
    assert str(error.value) == MISSING_EXTRA
    assert MISSING_EXTRA == "textclf explain needs the explain extra: pip install 'textclf[explain]'"
    with pytest.raises(TextclfError, match="explain extra"):
        explain_cli.run(parse([str(tmp_path / "never-read.ckpt"), "good"]))


def test_an_empty_or_folder_named_argument_is_a_text_and_n_steps_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """'' was read as the folder '.' ("is a folder"); --n_steps 1000000 made Captum allocate an (n, n) array."""
    path = saved_checkpoint(model_for(), tmp_path / "m.ckpt")
    (tmp_path / "docs").mkdir()
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.jsonl"
    explain_cli.run(parse([str(path), "", "docs", "-o", str(out)]))
    assert [json.loads(line)["text"] for line in out.read_text(encoding="utf-8").splitlines()] == ["", "docs"]
    with pytest.raises(TextclfError, match=r"--n_steps must be in \[1, 10000\], got 1000000"):
        explain_cli.run(parse([str(path), "film", "--n_steps", "1000000"]))
    with pytest.raises(TextclfError, match=r"n_steps must be in \[1, 10000\]"):
        model_for().explain(["film"], n_steps=10_001)


def test_attributions_that_do_not_add_up_are_warned_about(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long text at 50 steps missed 42% of its logit change (delta) with no word said."""
    import textclf.explain as E

    model = model_for("max", "lstm")
    for share, expected in ((0.0, True), (1e9, False)):
        monkeypatch.setattr(E, "DELTA_WARNING", share)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="textclf"):
            (record,) = model.explain(["the film was good bad awful superb"], n_steps=1)
        assert record["delta"] != 0.0
        assert any("raise n_steps (now 1)" in r.getMessage() for r in caplog.records) == expected
