"""The checkpoint format: old checkpoints keep predicting, files are data (never code), hparams are saved."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from factories import RECIPES, tiny_data

from textclf import RNNEncoder, TextClassifier, TextclfError
from textclf import checkpoint as ckpt
from textclf.cli import main
from textclf.tokenize import Tokenizer

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "format1_expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED["cases"]))
def test_format_1_checkpoints_written_before_the_checkpoint_module_predict_identically(name: str) -> None:
    case = EXPECTED["cases"][name]
    model = TextClassifier.load_from_checkpoint(FIXTURES / f"{name}.ckpt")
    assert model.labels == case["labels"]
    np.testing.assert_allclose(model.predict_proba(EXPECTED["texts"]), case["probs"], rtol=0, atol=1e-6)
    assert model.predict(EXPECTED["texts"]) == case["predictions"]


def _tampered(tmp_path: Path, **textclf: object) -> Path:
    checkpoint = torch.load(FIXTURES / "format1_single.ckpt", weights_only=True)
    checkpoint["textclf"].update(textclf)
    path = tmp_path / "tampered.ckpt"
    torch.save(checkpoint, path)
    return path


def test_a_checkpoint_cannot_choose_a_module_to_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "evilencoder.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Encoder: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    path = _tampered(tmp_path, encoder={"class_path": "evilencoder.Encoder", "init_args": {}})
    with pytest.raises(TextclfError, match=r"tampered.ckpt: checkpoint names an unknown encoder 'evilencoder.Encoder'"):
        TextClassifier.load_from_checkpoint(path)
    assert not marker.exists() and "evilencoder" not in sys.modules


class Payload:
    """Unpickling this would run code; torch.load(weights_only=True) refuses it."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("payload ran",))


def test_a_pickle_payload_is_refused_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "payload.ckpt"
    torch.save({"textclf": {"format_version": 1}, "state_dict": {}, "x": Payload()}, path)
    with pytest.raises(TextclfError, match=r"payload.ckpt: not a readable checkpoint \(UnpicklingError"):
        TextClassifier.load_from_checkpoint(path)
    assert "payload ran" not in capsys.readouterr().out


def test_unknown_versions_and_weights_that_do_not_fit_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(TextclfError, match=r"tampered.ckpt: checkpoint format version 3 is not supported"):
        TextClassifier.load_from_checkpoint(_tampered(tmp_path, format_version=3))
    config = torch.load(FIXTURES / "format1_single.ckpt", weights_only=True)["textclf"]
    wider = {**config["encoder"], "init_args": {**config["encoder"]["init_args"], "hidden_size": 7}}
    with pytest.raises(TextclfError, match=r"does not fit its model \(size mismatch for encoder"):
        TextClassifier.load_from_checkpoint(_tampered(tmp_path, encoder=wider))


def test_a_file_is_read_once_however_many_parts_ask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "copy.ckpt"
    path.write_bytes((FIXTURES / "format1_single.ckpt").read_bytes())
    calls = []
    load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a) or load(*a, **k))
    vocab, tokenizer = ckpt.read_vocabulary(path)  # what the data module asks for when fine-tuning
    first = ckpt.read_checkpoint(path)  # what the model asks for
    assert len(calls) == 1 and first["textclf"]["vocab"] == vocab.tokens and tokenizer == Tokenizer("basic")
    path.write_bytes(path.read_bytes() + b"")  # rewritten: a new modification time
    ckpt.read_checkpoint(path)
    assert len(calls) == 2


def test_user_encoders_are_registered_explicitly() -> None:
    class Mine(RNNEncoder):
        pass

    config = {"class_path": ckpt.class_path(Mine), "init_args": {"hidden_size": 3}}
    with pytest.raises(TextclfError, match="unknown encoder"):
        ckpt.build_encoder(config)
    ckpt.register_encoder(Mine)
    try:
        assert isinstance(ckpt.build_encoder(config), Mine)
    finally:
        for key in [k for k, v in ckpt.ENCODERS.items() if v is Mine]:
            del ckpt.ENCODERS[key]


def test_hyperparameters_are_saved_for_lightning_and_loggers(tmp_path: Path) -> None:
    data = tiny_data(tmp_path, rows=30)
    model = TextClassifier.for_data(data, RNNEncoder(hidden_size=4), embedding_mode="multichannel", dropout=0.3)
    assert model.hparams["embedding_mode"] == "multichannel" and model.hparams["dropout"] == 0.3
    assert model.hparams["encoder"]["class_path"] == "textclf.encoders.RNNEncoder"
    assert model.hparams["labels"] == ["neg", "pos"] and model.hparams["vocab_size"] == len(data.vocab)
    assert "pretrained_embeddings" not in model.hparams and "vocab" not in model.hparams
    assert model.hparams_initial["encoder"] == model.hparams["encoder"]  # what loggers write to hparams.yaml
    trainer = L.Trainer(max_steps=1, logger=False, enable_progress_bar=False, enable_checkpointing=False)
    trainer.fit(model, data)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    saved = torch.load(tmp_path / "m.ckpt", weights_only=True)  # plain types only
    assert saved["hyper_parameters"]["embedding_mode"] == "multichannel"
    assert saved["textclf"]["model"]["embedding_mode"] == "multichannel"


def test_weights_only_false_is_refused_before_anything_loads(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "test",
        "-c",
        str(RECIPES / "trec" / "bilstm_max.yaml"),
        "--ckpt_path",
        "some.ckpt",
        "--weights_only",
        "false",
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert (
        capsys.readouterr().err.strip().splitlines()[-1].startswith("textclf: error: --weights_only false is refused")
    )
