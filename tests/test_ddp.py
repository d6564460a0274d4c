"""Real 2-process DDP on the CPU (gloo), through the command line, on TREC: sharding, synced metrics, and the same
early-stopping and checkpoint decisions on every rank.

One ``textclf fit`` (2 processes, early stopping after 2 epochs) is shared by the tests; each test adds at most
one more 2-process command. A hang fails the test through the subprocess timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from factories import QUIET_TRAINER_ARGS, RECIPES

import textclf

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
RECIPE = RECIPES / "trec" / "bilstm_max.yaml"
TIMEOUT = 300  # seconds per command; each takes 10-20 s on 2 cores

# A smaller model without pretrained vectors keeps each command to seconds; DDP does not care.
SMALL = ["--model.encoder.init_args.hidden_size=32", "--data.vectors=null", "--model.embedding_dim=32"]
CPU = ["--trainer.accelerator=cpu", *QUIET_TRAINER_ARGS]
DDP = ["--trainer.strategy=ddp", "--trainer.devices=2"]

# Early stopping that must trigger after epoch 1 (no val/acc can improve by 1.0), and the recording callback.
LAYER = """
trainer:
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {{monitor: val/acc, mode: max, save_top_k: 1, filename: best}}
    - class_path: lightning.pytorch.callbacks.EarlyStopping
      init_args: {{monitor: val/acc, mode: max, patience: 1, min_delta: 1.0}}
    - class_path: ddp_callbacks.RecordRanks
      init_args: {{out_dir: {records}}}
"""


def _run(command: list[str], cwd: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", TEXTCLF_CACHE=str(cwd.parent / "cache"))
    for name in ("TEXTCLF_DATA", "TEXTCLF_VECTORS"):  # CI gives them relative (../shared/...); cwd is elsewhere
        if env.get(name):
            env[name] = str(Path(env[name]).resolve())
    # the package under test, and tests/ for ddp_callbacks (imported by every DDP process)
    paths = [str(Path(textclf.__file__).resolve().parents[1]), str(TESTS), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    cwd.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(command[2:5])} did not finish in {TIMEOUT} s (a DDP hang?):\n{e.stderr}")
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stderr[-6000:]}"


def _textclf(root: Path, name: str, subcommand: str, *args: str) -> dict[int, dict[str, Any]]:
    """Run ``python -m textclf SUBCOMMAND`` with the recording layer; the records of every rank by rank."""
    records = root / name / "records"
    layer = root / name / "layer.yaml"
    layer.parent.mkdir(parents=True, exist_ok=True)
    layer.write_text(LAYER.format(records=records))
    command = [sys.executable, "-m", "textclf", subcommand, "-c", str(RECIPE), "-c", str(layer), *SMALL, *CPU]
    _run([*command, f"--trainer.default_root_dir={root / name / 'runs'}", *args], root / name)
    found = records.glob(f"{subcommand}-rank*.json")
    return {int(p.stem.rpartition("rank")[2]): json.loads(p.read_text()) for p in found}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, dict[str, Any]]]:
    """``textclf fit`` on TREC with 2 CPU processes (at most 3 epochs; early stopping ends it after 2)."""
    data = os.environ.get("TEXTCLF_DATA")
    if not data or not (Path(data).expanduser() / "trec").is_dir():
        pytest.skip("set TEXTCLF_DATA to the folder of the real corpora (with trec/) to run the DDP tests")
    root = tmp_path_factory.mktemp("ddp")
    return root, _textclf(root, "fit", "fit", *DDP, "--trainer.max_epochs=3")


def test_ranks_train_on_disjoint_shards_that_cover_the_training_data(fitted):
    _, records = fitted
    assert sorted(records) == [0, 1] and {r["world_size"] for r in records.values()} == {2}
    size = records[0]["sizes"]["train"]
    for epoch in ("0", "1"):
        batches = [records[rank]["train"][epoch] for rank in (0, 1)]
        assert len(batches[0]) == len(batches[1]), "every rank must run the same number of training steps"
        shards = [[i for batch in rank_batches for i in batch] for rank_batches in batches]
        assert not set(shards[0]) & set(shards[1])
        assert sorted(shards[0] + shards[1]) == list(range(size)), "each training text once per epoch"
    first = [i for batch in records[0]["train"]["0"] for i in batch]
    second = [i for batch in records[0]["train"]["1"] for i in batch]
    assert first != second, "reshuffled every epoch"


def test_validation_sees_every_example_exactly_once_and_ranks_agree_on_the_metrics(fitted):
    _, records = fitted
    size = records[0]["sizes"]["val"]  # 546 texts in batches of 200: 3 batches, 2 on rank 0 and 1 on rank 1
    for epoch in ("0", "1"):
        batches = [records[rank]["val"][epoch] for rank in (0, 1)]
        assert [len(b) for b in batches] == [2, 1]
        assert sorted(i for rank_batches in batches for batch in rank_batches for i in batch) == list(range(size))
    val = [{k: v for k, v in records[rank]["metrics"].items() if k.startswith("val/")} for rank in (0, 1)]
    assert val[0] == val[1] and {"val/acc", "val/loss", "val/f1_macro"} <= set(val[0])  # synced (train/loss is not)


def test_early_stopping_and_checkpointing_decide_the_same_on_every_rank(fitted):
    _, records = fitted
    assert records[0]["early_stopping"] == records[1]["early_stopping"]
    assert records[0]["checkpoint"] == records[1]["checkpoint"]
    assert records[0]["early_stopping"]["stopped_epoch"] == 1  # it triggered, before max_epochs=3
    assert records[0]["epochs_run"] == records[1]["epochs_run"] == 2
    assert Path(records[0]["checkpoint"]["best_model_path"]).is_file()


def test_validation_on_two_processes_equals_one_process(fitted):
    root, records = fitted
    best = ["--ckpt_path", records[0]["checkpoint"]["best_model_path"], "--trainer.logger=false"]
    two = _textclf(root, "validate2", "validate", *DDP, *best)
    one = _textclf(root, "validate1", "validate", "--trainer.devices=1", *best)
    assert [len(two[0]["val"]["0"]), len(two[1]["val"]["0"]), len(one[0]["val"]["0"])] == [2, 1, 3]
    metrics_2, metrics_1 = two[0]["metrics"], one[0]["metrics"]
    assert two[1]["metrics"] == metrics_2
    # val/acc is correct / total, both integer counts summed over the ranks: exactly the same float.
    assert metrics_2["val/acc"] == metrics_1["val/acc"]
    # val/loss is the batch-size-weighted mean of the same per-batch float32 losses (each rank computes the same
    # batches as the single process), summed in another order across ranks: equal up to float32 rounding.
    assert metrics_2["val/loss"] == pytest.approx(metrics_1["val/loss"], rel=1e-6)
    # ... and the checkpoint's val/acc, as the 2-process fit recorded it when it saved the checkpoint
    assert metrics_1["val/acc"] == records[0]["checkpoint"]["best_model_score"]
