"""A checkpoint from a stranger is data: every entry point refuses a bad one in one line, and never runs its code.

The crafted files below would create a marker file if anything unpickled them or imported the module they name;
each entry point (the Python API, predict, evaluate, export, test/fit --ckpt_path, model.init_from,
data.init_vocab_from) must refuse them with one line naming the file, and leave no marker.
"""

from __future__ import annotations

import logging
import pathlib
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from factories import RECIPES, tiny_model, write_csv

from textclf import FileDataModule, TextClassifier, TextclfError
from textclf.checkpoint import load_model, read_checkpoint
from textclf.cli import main
from textclf.finetune import init_from_checkpoint

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "format1_single.ckpt"


class TouchOnLoad:
    """Unpickling this creates ``marker``: proof that a file's code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _section(**changes: Any) -> dict[str, Any]:
    checkpoint = torch.load(FIXTURE, weights_only=True)
    for key, value in changes.items():
        if key.startswith("model."):
            checkpoint["textclf"]["model"][key.removeprefix("model.")] = value
        else:
            checkpoint["textclf"][key] = value
    return checkpoint


def _save(path: Path, content: Any) -> Path:
    torch.save(content, path)
    return path


def _hostile_files(root: Path, marker: Path) -> dict[str, tuple[Path, str]]:
    """Name -> (file, what the one-line error says about it)."""
    root.mkdir(parents=True, exist_ok=True)
    good = FIXTURE.read_bytes()
    (root / "empty.ckpt").write_bytes(b"")
    (root / "half.ckpt").write_bytes(good[: len(good) // 2])
    with zipfile.ZipFile(root / "foreign.ckpt", "w") as archive:
        archive.writestr("notes.txt", "not a checkpoint")
    (root / "folder.ckpt").mkdir(exist_ok=True)
    payload = _section()
    payload["textclf"]["labels"] = [TouchOnLoad(marker), "pos"]
    evil_encoder = {"class_path": "evilencoder.Encoder", "init_args": {}}
    wrong_shapes = _section()
    wrong_shapes["state_dict"] = {k: v[:1] for k, v in wrong_shapes["state_dict"].items()}
    huge = _section(encoder={**_section()["textclf"]["encoder"], "init_args": {"hidden_size": 10**5}})
    nan_weights = _section()
    nan_weights["state_dict"]["head.weight"].view(-1)[0] = float("nan")
    float_length = _section(tokenizer={**_section()["textclf"]["tokenizer"], "max_length": 3.5})
    encoder = _section()["textclf"]["encoder"]
    yes = _section(encoder={**encoder, "init_args": {**encoder["init_args"], "bidirectional": "yes"}})
    files = {
        "empty": (root / "empty.ckpt", "the file is empty"),
        "truncated": (root / "half.ckpt", "may be truncated"),
        "foreign zip": (root / "foreign.ckpt", "a zip archive that torch.save did not write"),
        "folder": (root / "folder.ckpt", "is a folder"),
        "pickle payload": (_save(root / "payload.ckpt", payload), "never unpickles"),
        "os.system payload": (_save(root / "system.ckpt", {"textclf": {}, "x": _System(marker)}), "never unpickles"),
        "no textclf section": (_save(root / "plain.ckpt", {"state_dict": {}}), "no 'textclf' section"),
        "labels not strings": (_save(root / "labels.ckpt", _section(labels=[0, 1])), "labels is not"),
        "vocab duplicates": (
            _save(root / "dup.ckpt", _section(vocab=["<pad>", "<unk>", "a", "a"], vocab_trained_size=4)),
            "vocab has duplicates",
        ),
        "negative embedding_dim": (_save(root / "dim.ckpt", _section(**{"model.embedding_dim": -3})), "embedding_dim"),
        "model option it never writes": (
            _save(root / "init.ckpt", _section(**{"model.init_from": str(root / "other.ckpt")})),
            "model.init_from is not a setting",
        ),
        "encoder module in the cwd": (
            _save(root / "module.ckpt", _section(encoder=evil_encoder)),
            "unknown encoder 'evilencoder.Encoder'",
        ),
        "format version 3": (_save(root / "v3.ckpt", _section(format_version=3)), "format version 3"),
        "weights of other shapes": (_save(root / "shapes.ckpt", wrong_shapes), "does not fit its model"),
        "huge encoder claimed": (_save(root / "huge.ckpt", huge), "does not fit its model"),
        "NaN in a weight (predicted NaN, exit 0)": (_save(root / "nan.ckpt", nan_weights), "NaN or infinite values"),
        "max_length 3.5 (was a TypeError)": (_save(root / "len.ckpt", float_length), "tokenizer.max_length is 3.5"),
        "bidirectional 'yes' (was accepted)": (_save(root / "yes.ckpt", yes), "bidirectional is 'yes'"),
    }
    return files


class _System:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, tuple[Path, str]], Path]:
    """The crafted files, and a module next to the working directory (on sys.path) that marks an import."""
    marker = tmp_path / "code-ran"
    (tmp_path / "evilencoder.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Encoder: pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield _hostile_files(tmp_path / "files", marker), marker
    assert not marker.exists(), "a checkpoint's code ran"
    assert "evilencoder" not in sys.modules


def _one_line_exit(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """Run ``textclf ARGS``; it must exit with status 2 and print one error line (no traceback) to stderr."""
    logger = logging.getLogger("textclf")
    handlers = logger.handlers
    logger.handlers = []  # textclf's handler then writes to this test's captured stderr, not an earlier one's
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(args)
    finally:
        logger.handlers = handlers
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2, err
    assert err and err[-1].startswith("textclf: error: ") and "Traceback" not in "\n".join(err)
    return err[-1]


def _api(path: Path) -> None:
    TextClassifier.load_from_checkpoint(path)


def _load_model(path: Path) -> None:
    load_model(TextClassifier, path)


def _init_from(path: Path) -> None:
    init_from_checkpoint(tiny_model(), path)


def _init_vocab_from(path: Path) -> None:
    data = FileDataModule(str(write_csv(path.parent.parent / "train.csv", 20)), init_vocab_from=str(path))
    data.cache_dir = path.parent.parent / "cache"
    data.prepare()


@pytest.mark.parametrize("load", [_api, _load_model, _init_from, _init_vocab_from, read_checkpoint])
def test_every_python_entry_point_refuses_every_hostile_file_in_one_line(
    hostile: tuple[dict[str, tuple[Path, str]], Path], load: Callable[[Path], Any]
) -> None:
    files, _ = hostile
    for case, (path, reason) in files.items():
        if load in (_init_vocab_from, read_checkpoint) and reason == "does not fit its model":
            _init_vocab_from(path) if load is _init_vocab_from else read_checkpoint(path)  # no model: weights unused
            continue
        with pytest.raises(TextclfError) as error:
            load(path)
        message = str(error.value)
        assert str(path) in message and reason in message and "\n" not in message, (case, message)


def _recipe_args(root: Path, *extra: str) -> list[str]:
    return [
        "-c",
        str(RECIPES / "custom" / "csv.yaml"),
        f"--data.init_args.train={write_csv(root / 'train.csv', 20)}",
        "--data.init_args.vectors=null",
        f"--data.init_args.cache_dir={root / 'cache'}",
        f"--trainer.default_root_dir={root / 'runs'}",
        *extra,
    ]


@pytest.mark.parametrize(
    "command",
    [
        lambda p, root: ["predict", str(p), str(root / "texts.txt")],
        lambda p, root: ["evaluate", str(p), str(write_csv(root / "labelled.csv", 4))],
        lambda p, root: ["export", str(p), str(root / "exported")],
        lambda p, root: ["test", *_recipe_args(root, f"--ckpt_path={p}")],
        lambda p, root: ["fit", *_recipe_args(root, f"--ckpt_path={p}")],
        lambda p, root: ["fit", *_recipe_args(root, f"--model.init_from={p}")],
    ],
    ids=["predict", "evaluate", "export", "test --ckpt_path", "fit --ckpt_path", "fit --model.init_from"],
)
def test_every_command_refuses_every_hostile_file_in_one_line(
    hostile: tuple[dict[str, tuple[Path, str]], Path],
    command: Callable[[Path, Path], list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files, _ = hostile
    (tmp_path / "texts.txt").write_text("a good film\n")
    for case, (path, reason) in files.items():
        line = _one_line_exit(capsys, command(path, tmp_path))
        assert str(path) in line and reason in line, (case, line)
    assert not (tmp_path / "exported").exists() and not list(tmp_path.rglob("*.jsonl"))
