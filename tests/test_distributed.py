"""Once-per-node caches, ordered prediction and the recipe layers for GPUs and DDP (the real 2-process runs are
in test_ddp.py)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import yaml
from factories import tiny_data, write_csv, write_vectors
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.strategies import DDPStrategy

from textclf import RNNEncoder, TextClassifier
from textclf import vectors as V
from textclf.cli import TextclfCLI, _recipe_file, main
from textclf.distributed import OrderedPredictions, PredictionData, builds_here, gather_predictions, local_rank
from textclf.errors import TextclfError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
LAYERS = ["gpu", "ddp", "multinode"]


@pytest.fixture
def rank_env(monkeypatch: pytest.MonkeyPatch):
    """Start from no rank variables; ``set(local_rank)`` then pretends to be that process on the node."""
    for name in ("LOCAL_RANK", "SLURM_LOCALID", "TEXTCLF_WAIT_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)

    def set_rank(rank: int, timeout: float | None = None) -> None:
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        if timeout is not None:
            monkeypatch.setenv("TEXTCLF_WAIT_TIMEOUT", str(timeout))

    return set_rank


def _appear_later(action, delay: float = 0.5) -> threading.Thread:
    """Run ``action`` (local rank 0's work) in a thread after ``delay`` seconds."""
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()))
    thread.start()
    return thread


# ---- ranks -------------------------------------------------------------------------------------------------


def test_local_rank_reads_torchrun_then_slurm_then_defaults_to_zero(rank_env, monkeypatch):
    assert local_rank() == 0
    monkeypatch.setenv("SLURM_LOCALID", "3")
    assert local_rank() == 3
    monkeypatch.setenv("LOCAL_RANK", "1")  # torchrun's (and Lightning's) variable wins
    assert local_rank() == 1
    monkeypatch.setenv("LOCAL_RANK", "one")
    with pytest.raises(TextclfError, match="LOCAL_RANK='one' is not an integer"):
        local_rank()


def test_local_rank_zero_builds_without_waiting(rank_env, tmp_path):
    rank_env(0, timeout=0)
    assert builds_here(tmp_path / "missing", "the thing") is True


def test_other_local_ranks_wait_for_the_marker(rank_env, tmp_path):
    rank_env(1, timeout=30)
    marker = tmp_path / "meta.json"
    thread = _appear_later(lambda: marker.write_text("{}"))
    assert builds_here(marker, "the thing") is False
    assert marker.exists()
    thread.join()


# ---- prepared data -----------------------------------------------------------------------------------------


def test_prepare_on_local_rank_1_waits_for_rank_0s_cache_then_reads_it(rank_env, tmp_path, monkeypatch):
    leader, follower = tiny_data(tmp_path), tiny_data(tmp_path)
    directory = leader._cache_path()
    assert follower._cache_path() == directory and not directory.exists()
    rank_env(1, timeout=60)
    monkeypatch.setattr(follower, "_build_cache", lambda _: pytest.fail("local rank 1 must not build the cache"))
    thread = _appear_later(lambda: leader._build_cache(directory))  # what local rank 0 does meanwhile
    meta = follower.prepare()
    thread.join()
    assert meta["vocab"] == leader.prepare()["vocab"] and meta["sizes"] == leader.prepare()["sizes"]
    assert len(follower.split("train")) == meta["sizes"]["train"]


def test_prepare_on_local_rank_1_without_rank_0_fails_clearly(rank_env, tmp_path):
    rank_env(1, timeout=0.3)
    data = tiny_data(tmp_path)
    with pytest.raises(TextclfError) as error:
        data.prepare()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("local rank 1 waited 0.3 s for the prepared data")
    assert str(data._cache_path() / "meta.json") in message and "TEXTCLF_WAIT_TIMEOUT" in message


# ---- vector matrix -----------------------------------------------------------------------------------------


def test_vector_matrix_on_local_rank_1_waits_for_rank_0s_cache(rank_env, tmp_path, monkeypatch):
    vectors = write_vectors(tmp_path / "vectors.txt")
    vocab = ["<pad>", "<unk>", "good", "bad", "plot"]
    expected, _ = V.build_embedding_matrix(vectors, vocab, cache_dir=tmp_path / "rank0", seed=1)
    built = sorted((tmp_path / "rank0" / "vectors").iterdir(), key=lambda p: p.suffix != ".npy")  # .npy, then .json
    target = tmp_path / "shared" / "vectors"

    def publish() -> None:  # local rank 0's write order: the matrix, then the .json that marks it complete
        target.mkdir(parents=True)
        for path in built:
            shutil.copy(path, target / path.name)

    rank_env(1, timeout=60)
    monkeypatch.setattr(V, "load_keyed_vectors", lambda *a, **k: pytest.fail("local rank 1 must read the cache"))
    thread = _appear_later(publish)
    matrix, _ = V.build_embedding_matrix(vectors, vocab, cache_dir=tmp_path / "shared", seed=1)
    thread.join()
    np.testing.assert_array_equal(matrix, expected)


def test_vector_matrix_on_local_rank_1_without_rank_0_fails_clearly(rank_env, tmp_path):
    rank_env(1, timeout=0.2)
    with pytest.raises(TextclfError, match=r"^local rank 1 waited 0.2 s for the vectors matrix cache \("):
        V.build_embedding_matrix(write_vectors(tmp_path / "v.txt"), ["<pad>", "<unk>", "good"], cache_dir=tmp_path)


# ---- ordered prediction ------------------------------------------------------------------------------------


class _OneProcess:
    world_size = 1


def test_gather_predictions_puts_rows_in_input_order_and_drops_repeats():
    probs = np.arange(12, dtype=np.float32).reshape(6, 2)
    outputs = [  # batches out of order, input 4 predicted twice (a sampler that pads by repeating)
        {"index": np.array([3, 0]), "probs": probs[[3, 0]]},
        {"index": np.array([4, 1, 5]), "probs": probs[[4, 1, 5]]},
        {"index": np.array([2, 4]), "probs": probs[[2, 4]]},
    ]
    np.testing.assert_array_equal(gather_predictions(_OneProcess(), outputs), probs)  # type: ignore[arg-type]


def test_gather_predictions_refuses_a_missing_input():
    outputs = [{"index": np.array([0, 2]), "probs": np.zeros((2, 3), np.float32)}]
    with pytest.raises(RuntimeError, match=r"miss 1 input\(s\), the first being input 1"):
        gather_predictions(_OneProcess(), outputs)  # type: ignore[arg-type]


def test_ordered_predictions_on_one_process_match_predict_proba(tmp_path, one_thread):
    data = tiny_data(tmp_path, rows=40)
    model = TextClassifier.for_data(data, RNNEncoder(8, hidden_size=6, pooling="max"))
    texts = [f"the film was {'good' if i % 3 else 'bad'} " + "really " * (i % 7) for i in range(37)]
    writer = OrderedPredictions(tmp_path / "out" / "probs.npy")
    trainer = L.Trainer(
        accelerator="cpu", devices=1, callbacks=[writer], logger=False, enable_progress_bar=False,
        enable_model_summary=False, use_distributed_sampler=False,
    )  # fmt: skip
    trainer.predict(model, datamodule=PredictionData(model.encode_texts(texts), batch_size=8), return_predictions=False)
    expected = model.predict_proba(texts)
    assert writer.probs is not None and writer.probs.shape == (37, 2)
    np.testing.assert_allclose(writer.probs, expected, atol=1e-6)
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "probs.npy"), writer.probs)


# ---- recipe layers -----------------------------------------------------------------------------------------


def _printed_config(capsys, *args: str) -> dict:
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "-c", str(RECIPES / "imdb" / "bilstm_max.yaml"), *args, "--print_config"])
    assert exit_.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_sets_its_keys_and_keeps_the_recipes_trainer(layer, capsys):
    base = _printed_config(capsys)["trainer"]
    layered = _printed_config(capsys, "-c", str(RECIPES / "_base" / f"{layer}.yaml"))["trainer"]
    own = yaml.safe_load((RECIPES / "_base" / f"{layer}.yaml").read_text())["trainer"]
    assert {k: layered[k] for k in own} == own
    assert layered["precision"] == "bf16-mixed" and layered["accelerator"] == "gpu"
    assert {k: v for k, v in layered.items() if k not in own} == {k: v for k, v in base.items() if k not in own}
    assert [c["class_path"].rpartition(".")[2] for c in layered["callbacks"]] == ["ModelCheckpoint", "EarlyStopping"]
    assert layered["use_distributed_sampler"] is False and layered["gradient_clip_val"] == 5.0


def test_command_line_overrides_a_layer(capsys):
    layer = str(RECIPES / "_base" / "multinode.yaml")
    trainer = _printed_config(capsys, "-c", layer, "--trainer.num_nodes=4", "--trainer.devices=4")["trainer"]
    assert (trainer["num_nodes"], str(trainer["devices"]), trainer["strategy"]) == (4, "4", "ddp")


def test_the_ddp_layer_instantiates_a_ddp_trainer_with_the_recipes_callbacks(tmp_path):
    train = write_csv(tmp_path / "train.csv")
    cli = TextclfCLI(
        args=[
            "-c", str(RECIPES / "custom" / "csv.yaml"), "-c", str(RECIPES / "_base" / "ddp.yaml"),
            "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.precision=32-true",
            f"--data.init_args.train={train}", "--data.init_args.val=null", "--data.init_args.test=null",
            f"--data.init_args.vectors={write_vectors(tmp_path / 'v.txt')}",
            f"--data.init_args.cache_dir={tmp_path / 'cache'}", f"--trainer.default_root_dir={tmp_path / 'runs'}",
        ],
        run=False,
    )  # fmt: skip
    trainer = cli.trainer
    assert isinstance(trainer.strategy, DDPStrategy) and trainer.num_devices == 2
    assert any(isinstance(c, ModelCheckpoint) and c.monitor == "val/acc" for c in trainer.callbacks)
    assert any(isinstance(c, EarlyStopping) and c.patience == 6 for c in trainer.callbacks)
    assert trainer.gradient_clip_val == 5.0 and trainer._accelerator_connector.use_distributed_sampler is False
    assert Path(trainer.logger.log_dir).parent.relative_to(tmp_path / "runs") == Path("custom/csv")  # not "_base/ddp"


def test_runs_are_named_after_the_last_recipe_not_the_layers(tmp_path):
    own_layer = tmp_path / "cluster.yaml"
    own_layer.write_text("trainer:\n  num_nodes: 4\n")
    recipe = RECIPES / "trec" / "bilstm_max.yaml"
    assert _recipe_file([recipe, RECIPES / "_base" / "ddp.yaml", own_layer]) == recipe
