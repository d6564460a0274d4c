"""textclf export: exported ONNX / TorchScript models agree with the eager model, and the JSON files suffice."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import tiny_model
from test_cli import fit_args

import textclf.export
from textclf import RNNEncoder, TextClassifier, TextclfError, Tokenizer, Vocabulary
from textclf.cli import main
from textclf.export import EXPORT_FILES, encode_with_vocab, export_model, load_exported, tokenizer_settings
from textclf.inference import encode_texts

SINGLE_LABEL_FILES = sorted(set(EXPORT_FILES) - {"thresholds.json"})  # thresholds.json: multi-label models only

DOCS = Path(__file__).resolve().parents[1] / "docs" / "export.md"
WORDS = ["the", "film", "was", "a", "great", "bad", "plot", "don't", "re-imagining", "café", "who", "?", "!", ","]
TEXTS = [
    "The film was GREAT!",
    "",
    "a",
    "Don't miss the re-imagining, the plot was bad bad bad and the film was a great great film ?",
    "unknown words only",
    "café\u00a0who? the\x1cfilm",
    "   ",
    "was the plot a film",
]
TOLERANCE = 1e-4


PHRASES = ("the_film", "the_plot", "bad_bad", "was_a")  # "bad bad bad": the first two joined, the third not


def exportable_model(
    cell: str = "lstm", bidirectional: bool = True, phrases: tuple[str, ...] = (), **encoder: object
) -> TextClassifier:
    """Random weights; the last three words are 'untrained' rows, as words added from a vectors file are."""
    tokens = ["<pad>", "<unk>", *phrases, *WORDS]
    vocab = Vocabulary(tokens, trained_size=len(tokens) - 3)
    options = {"cell": cell, "bidirectional": bidirectional, "hidden_size": 7, **encoder}
    tokenizer = Tokenizer(max_length=12, phrases=phrases)
    return tiny_model(vocab, ["neg", "neutral", "pos"], options, seed=0, tokenizer=tokenizer).eval()


def read_export(folder: Path) -> tuple[list[str], list[str], dict]:
    return tuple(json.loads((folder / f"{name}.json").read_text()) for name in ("vocab", "labels", "tokenizer"))


def assert_parity(model: TextClassifier, folder: Path, texts: list[str]) -> None:
    """Both exported models, on the texts batched together and one at a time, match eager predict_proba."""
    vocab, labels, settings = read_export(folder)
    assert labels == model.labels
    eager = model.predict_proba(texts)
    token_ids, lengths = encode_with_vocab(texts, vocab, settings)
    for name in ("model.onnx", "model.pt"):
        run = load_exported(folder / name)
        batched = run(token_ids, lengths)
        assert batched.shape == eager.shape
        assert np.abs(batched - eager).max() <= TOLERANCE, name
        some = slice(None, None, max(1, len(texts) // 50))  # each text alone: up to ~50 of them
        alone = np.concatenate([run(*encode_with_vocab([t], vocab, settings)) for t in texts[some]])
        assert np.abs(alone - batched[some]).max() <= 1e-5, f"{name}: padding changed a result"


@pytest.mark.parametrize(
    ("cell", "bidirectional", "options"),
    [
        ("lstm", False, {"pooling": "max"}),
        ("lstm", True, {"pooling": "max"}),
        ("gru", False, {"pooling": "max"}),
        ("gru", True, {"pooling": "max"}),  # the eager GRU runs packed on CPU ("auto")
        ("lstm", True, {"pooling": "last", "implementation": "packed"}),
        ("gru", True, {"pooling": "last"}),
        ("lstm", False, {"pooling": "last"}),
        ("lstm", True, {"pooling": "mean", "num_layers": 2}),
        ("gru", True, {"pooling": "attention", "num_layers": 2}),
        ("lstm", True, {"pooling": "attention"}),
    ],
)
def test_exported_models_match_the_eager_model(
    tmp_path: Path, cell: str, bidirectional: bool, options: dict[str, object]
) -> None:
    model = exportable_model(cell, bidirectional, **options)
    implementation = model.encoder.implementation
    export_model(model.train(), tmp_path)
    assert model.training and model.encoder.implementation == implementation  # the eager model is unchanged
    assert_parity(model.eval(), tmp_path, TEXTS)


@pytest.mark.parametrize("mode", ["basic", "cased", "whitespace"])
@pytest.mark.parametrize("max_length", [None, 3])
@pytest.mark.parametrize("phrases", [(), PHRASES])
def test_encode_with_vocab_matches_the_models_own_tokenizer(
    mode: str, max_length: int | None, phrases: tuple[str, ...]
) -> None:
    model = exportable_model(phrases=phrases)
    model.tokenizer = Tokenizer(mode, max_length, phrases)
    settings = json.loads(json.dumps(tokenizer_settings(model.tokenizer)))  # as read back from tokenizer.json
    token_ids, lengths = encode_with_vocab(TEXTS, model.vocab.tokens, settings)
    expected = encode_texts(model, TEXTS).__getitems__(list(range(len(TEXTS))))
    assert token_ids.dtype == lengths.dtype == np.int64
    np.testing.assert_array_equal(lengths, expected["lengths"].numpy())
    np.testing.assert_array_equal(token_ids, expected["token_ids"].numpy())
    assert (token_ids > 1).any() and (token_ids == 1).any()  # known and unknown words both occur


def test_the_exported_files(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    model = exportable_model("gru")  # packed in eager mode on CPU ("auto")
    written = export_model(model, tmp_path)
    assert sorted(p.name for p in written) == SINGLE_LABEL_FILES
    assert sorted(p.name for p in tmp_path.iterdir()) == SINGLE_LABEL_FILES  # no staging folder left
    vocab, labels, settings = read_export(tmp_path)
    assert vocab == model.vocab.tokens and labels == ["neg", "neutral", "pos"]
    assert settings["max_length"] == 12 and settings["lowercase"] is True
    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    shapes = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in graph.input}
    assert shapes == {"token_ids": ["batch", "seq"], "lengths": ["batch"]}
    assert [d.dim_param or d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == ["batch", 3]
    rnn_nodes = [node for node in graph.node if node.op_type in ("LSTM", "GRU")]
    assert len(rnn_nodes) == 2  # the padded path: one forward-only node per direction ...
    assert all(len(node.input) < 5 or node.input[4] == "" for node in rnn_nodes)  # ... and no sequence_lens


def docs_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    return next(block for block in blocks if "onnxruntime.InferenceSession" in block)


def test_the_documented_snippet_classifies_without_torch(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    model = exportable_model(cell="gru", phrases=PHRASES)  # the snippet joins phrases as the model does
    assert model.tokenizer(TEXTS[3])[7:10] == ["bad_bad", "bad", "and"]  # joined before max_length cuts
    export_model(model, tmp_path / "export", ["onnx"])
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['textclf'] = None\n"
        + docs_snippet()
        + "\nimport json as _json; print(_json.dumps(classify(json.loads(sys.argv[1]))[1].tolist()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(TEXTS)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr
    probs = np.array(json.loads(result.stdout.strip().splitlines()[-1]))
    assert np.abs(probs - model.predict_proba(TEXTS)).max() <= TOLERANCE


def test_real_texts(tmp_path: Path, real_data: Path) -> None:
    """TREC questions of every length, with a vocabulary built from them and max_length cutting the longest."""
    lines = (real_data / "trec" / "TREC.test").read_text(encoding="latin-1").splitlines()
    texts = [line.split(" ", 1)[1] for line in lines if " " in line]
    tokenizer = Tokenizer(max_length=20)
    counts = Counter(token for tokens in tokenizer.batch(texts[::2]) for token in tokens)  # the rest: unknown words
    torch.manual_seed(0)
    model = TextClassifier(
        RNNEncoder(cell="lstm", hidden_size=16, pooling="max"),
        vocab=Vocabulary.build(counts),
        labels=["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"],
        tokenizer=tokenizer,
        embedding_dim=12,
        embedding_mode="random",
    ).eval()
    export_model(model, tmp_path)
    assert_parity(model, tmp_path, texts)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export-cli")
    main(fit_args(root, "--trainer.max_epochs=1"))
    return root / "runs" / "custom" / "csv" / "version_0" / "checkpoints" / "best.ckpt"


def test_export_command_on_a_checkpoint_from_fit(checkpoint: Path, tmp_path: Path) -> None:
    main(["export", str(checkpoint), str(tmp_path / "out")])
    model = TextClassifier.load_from_checkpoint(checkpoint)
    texts = ["a great and lovely film", "dull awful plot", "the acting was really quite superb", "", "bad"]
    assert_parity(model, tmp_path / "out", texts)


def export_error(capfd: pytest.CaptureFixture[str], *args: str) -> str:
    """The one error line of a failing ``textclf export`` (at the file-descriptor level: no graph dumps either)."""
    capfd.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["export", *args])
    assert exit_info.value.code == 2
    lines = capfd.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("textclf: error: ")]
    assert len(errors) == 1 and all(line.startswith("textclf: ") for line in lines), lines
    return errors[0]


def test_export_errors_are_one_line(checkpoint: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "out")
    assert "checkpoint not found" in export_error(capfd, str(tmp_path / "missing.ckpt"), out)
    (tmp_path / "junk.ckpt").write_text("not a checkpoint")
    assert "not a readable checkpoint" in export_error(capfd, str(tmp_path / "junk.ckpt"), out)
    assert "invalid choice: 'tflite'" in export_error(capfd, str(checkpoint), out, "--format", "tflite")

    saved = torch.load(checkpoint, weights_only=True)
    saved["textclf"]["encoder"]["init_args"]["hidden_size"] = 3
    torch.save(saved, tmp_path / "other-shape.ckpt")
    message = export_error(capfd, str(tmp_path / "other-shape.ckpt"), out)
    assert "other-shape.ckpt" in message and "size mismatch for encoder.rnn" in message
    saved["textclf"]["format_version"] = 99
    torch.save(saved, tmp_path / "future.ckpt")
    assert "format version 99 is not supported" in export_error(capfd, str(tmp_path / "future.ckpt"), out)
    assert not Path(out).exists()


def test_an_existing_export_is_kept_unless_overwrite(
    checkpoint: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    main(["export", str(checkpoint), str(out)])
    before = (out / "model.onnx").read_bytes()
    assert "already holds an export" in export_error(capfd, str(checkpoint), str(out), "--format", "onnx")
    assert "--opset must be in [9, " in export_error(capfd, str(checkpoint), str(out), "--opset", "99", "--overwrite")
    monkeypatch.setattr(textclf.export, "TOLERANCE", -1.0)  # a failed export, found by the parity check
    message = export_error(capfd, str(checkpoint), str(out), "--overwrite")
    assert "exported model.onnx differs from the eager model" in message
    assert (out / "model.onnx").read_bytes() == before and sorted(p.name for p in out.iterdir()) == SINGLE_LABEL_FILES
    monkeypatch.undo()
    main(["export", str(checkpoint), str(out), "--format", "torchscript", "--overwrite"])
    assert not (out / "model.onnx").exists() and (out / "model.pt").is_file()  # no stale model from before


def test_missing_onnx_packages_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else find_spec(name)
    )
    with pytest.raises(TextclfError, match=r"needs onnxruntime: pip install 'textclf\[export\]'"):
        export_model(exportable_model(), tmp_path / "out", ["onnx"])
    export_model(exportable_model(), tmp_path / "out", ["torchscript"])
    assert (tmp_path / "out" / "model.pt").is_file()
