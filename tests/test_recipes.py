"""Every shipped recipe parses and instantiates (with its corpus swapped for a tiny one), and on the real data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import fixtures_dialog
import fixtures_documents
import fixtures_sentences
import pytest
import yaml
from factories import RECIPES as RECIPES_DIR
from factories import sentiment_rows, write_csv, write_vectors

import textclf
from textclf import FileDataModule, PublicCorpus, RNNEncoder, TextClassifier
from textclf.cli import TextclfCLI

# finetune_csv needs a checkpoint (fitted in test_finetune.py); multilabel is a layer (fitted in test_multilabel.py);
# search.yaml is a textclf tune search space (test_tune.py)
SKIPPED = ("data.yaml", "finetune_csv.yaml", "multilabel.yaml", "search.yaml")
RECIPES = sorted(p for p in RECIPES_DIR.glob("*/*.yaml") if p.parent.name != "_base" and p.name not in SKIPPED)
WRITERS = {**fixtures_sentences.WRITERS, **fixtures_dialog.WRITERS, **fixtures_documents.WRITERS}


def recipe_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def section(recipe: Path, key: str) -> dict[str, Any]:
    """A recipe's section, following a relative file reference (``data: data.yaml``)."""
    value = yaml.safe_load(recipe.read_text())[key]
    return yaml.safe_load((recipe.parent / value).read_text()) if isinstance(value, str) else value


def data_class(recipe: Path) -> type:
    return getattr(textclf, section(recipe, "data")["class_path"].rpartition(".")[2])


def instantiate(recipe: Path, *overrides: str) -> TextclfCLI:
    return TextclfCLI(args=["-c", str(recipe), "--trainer.logger=false", *overrides], run=False)


def tiny_corpus(recipe: Path, tmp_path: Path) -> list[str]:
    """Overrides that point the recipe's data module at a tiny corpus in the same format."""
    common = [
        f"--data.init_args.vectors={write_vectors(tmp_path / 'v.txt')}",
        "--data.init_args.vectors_vocab_size=3",
        f"--data.init_args.cache_dir={tmp_path / 'cache'}",
    ]
    cls = data_class(recipe)
    if cls is FileDataModule:
        options = section(recipe, "data")["init_args"]
        if options.get("group_column"):  # a sequential recipe: 10 conversations of 4 turns, each turn 4 down to 1
            header = (options["group_column"], options["order_column"], options["text_column"], options["label_column"])
            rows = [[f"c{i // 4}", str(4 - i % 4), *row] for i, row in enumerate(sentiment_rows(40))]
            train = write_csv(tmp_path / "train.csv", rows, header=header)
        else:
            train = write_csv(tmp_path / "train.csv")
        return [f"--data.init_args.train={train}", "--data.init_args.val=null", "--data.init_args.test=null",
                "--data.init_args.format=csv", *common]  # fmt: skip
    directory = WRITERS[cls.__name__](tmp_path / "corpus")
    return [f"--data.init_args.data_dir={directory}", "--data.init_args.source=files", *common]


def test_recipes_exist_for_every_corpus_with_a_fixture() -> None:
    names = {recipe_id(p) for p in RECIPES}
    assert {"trec/bilstm_max", "trec/gru_last", "sst2/bilstm_max", "sst2/gru_last", "custom/csv"} <= names
    covered = {data_class(p).__name__ for p in RECIPES}
    assert set(WRITERS) <= covered


@pytest.mark.parametrize("recipe", RECIPES, ids=recipe_id)
def test_recipe_instantiates_on_a_tiny_corpus(recipe: Path, tmp_path: Path) -> None:
    cli = instantiate(recipe, *tiny_corpus(recipe, tmp_path))
    model = cli.model
    assert isinstance(model, TextClassifier) and isinstance(model.encoder, RNNEncoder)
    assert model.labels == cli.datamodule.labels and model.embedding_dim == 8
    encoder_args = section(recipe, "model")["encoder"]["init_args"]
    config = model.encoder.config()
    assert {k: config[k] for k in encoder_args} == encoder_args
    assert cli.trainer.gradient_clip_val == 5.0
    assert cli.trainer.checkpoint_callback is not None and cli.trainer.checkpoint_callback.monitor == "val/acc"


@pytest.mark.slow
@pytest.mark.parametrize("recipe", [p for p in RECIPES if p.parent.name != "custom"], ids=recipe_id)
def test_recipe_reads_its_real_corpus(recipe: Path) -> None:
    if not (os.environ.get("TEXTCLF_DATA") and os.environ.get("TEXTCLF_VECTORS")):
        pytest.skip("set TEXTCLF_DATA and TEXTCLF_VECTORS to the real corpora and vectors (e.g. ../shared)")
    cls = data_class(recipe)
    if issubclass(cls, PublicCorpus):
        probe = cls(**section(recipe, "data").get("init_args", {}))
        if probe.missing_files():
            pytest.skip(f"{cls.__name__}: the original files are not under TEXTCLF_DATA ({probe.missing_files()})")
    cli = instantiate(recipe)
    assert sum(cli.datamodule.prepare()["sizes"].values()) > 0
    assert cli.model.embedding_dim == 50


@pytest.mark.parametrize("layer", sorted(RECIPES_DIR.glob("_base/vectors_*.yaml")), ids=lambda p: p.stem)
def test_vectors_layer_names_the_file_its_training_command_writes(layer: Path) -> None:
    vectors = yaml.safe_load(layer.read_text())["data"]["init_args"]["vectors"]
    commands = [line.split("#", 1)[1].strip() for line in layer.read_text().splitlines() if "vectors train" in line]
    assert len(commands) == 1 and f" -o {vectors} " in f"{commands[0]} "
    data = commands[0].split("--data ", 1)[1].split()[0]
    assert (RECIPES_DIR.parent / data).is_file()
