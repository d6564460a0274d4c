"""Every shipped recipe parses and instantiates (with its corpus swapped for a tiny one), and on the real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from factories import write_csv, write_vectors

from textclf import RNNEncoder, TextClassifier
from textclf.cli import TextclfCLI

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
RECIPES = sorted(p for p in RECIPES_DIR.glob("*/*.yaml") if p.parent.name != "_base" and p.name != "data.yaml")
REAL_DATA = os.environ.get("TEXTCLF_DATA")


def test_recipes_exist() -> None:
    names = {f"{p.parent.name}/{p.stem}" for p in RECIPES}
    assert {"trec/bilstm_max", "trec/gru_last", "sst2/bilstm_max", "sst2/gru_last", "custom/csv"} <= names


def instantiate(recipe: Path, *overrides: str) -> TextclfCLI:
    return TextclfCLI(args=["-c", str(recipe), "--trainer.logger=false", *overrides], run=False)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recipe_instantiates_on_a_tiny_corpus(recipe: Path, tmp_path: Path) -> None:
    cli = instantiate(
        recipe,
        f"--data.init_args.train={write_csv(tmp_path / 'train.csv')}",
        "--data.init_args.val=null",
        "--data.init_args.test=null",
        "--data.init_args.format=csv",
        f"--data.init_args.vectors={write_vectors(tmp_path / 'v.txt')}",
        f"--data.init_args.cache_dir={tmp_path / 'cache'}",
    )
    model = cli.model
    assert isinstance(model, TextClassifier) and isinstance(model.encoder, RNNEncoder)
    assert model.labels == ["neg", "pos"] and model.embedding_dim == 8
    model_file = yaml.safe_load(recipe.read_text())["model"]
    stated = yaml.safe_load((recipe.parent / model_file).read_text()) if isinstance(model_file, str) else model_file
    encoder_args = stated["encoder"]["init_args"]
    config = model.encoder.config()
    assert {k: config[k] for k in encoder_args} == encoder_args
    assert cli.trainer.gradient_clip_val == 5.0
    assert cli.trainer.checkpoint_callback is not None and cli.trainer.checkpoint_callback.monitor == "val/acc"


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe",
    [p for p in RECIPES if p.parent.name != "custom"],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_recipe_reads_its_real_corpus(recipe: Path, tmp_path: Path) -> None:
    if not (REAL_DATA and os.environ.get("TEXTCLF_VECTORS")):
        pytest.skip("set TEXTCLF_DATA and TEXTCLF_VECTORS to the real corpora and vectors (e.g. ../shared)")
    cli = instantiate(recipe)
    data = cli.datamodule
    sizes = data.prepare()["sizes"]
    expected = {"trec": 5452 + 500, "sst2": 6920 + 872 + 1821}[recipe.parent.name]
    assert sum(sizes.values()) == expected
    assert cli.model.embedding.tuned.weight.shape == (len(data.vocab), 50)
