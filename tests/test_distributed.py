"""Caches built once however many processes ask for them (the file lock of textclf.data.cache), and the recipe
layers for GPUs and DDP (the real 2-process runs are in test_ddp.py)."""

from __future__ import annotations

import multiprocessing
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from factories import RECIPES, printed_config, tiny_data, write_csv, write_vectors
from filelock import FileLock
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.strategies import DDPStrategy

from textclf import FileDataModule
from textclf import vectors as V
from textclf.cli import TextclfCLI
from textclf.errors import TextclfError
from textclf.runconfig import _recipe_file

LAYERS = ["gpu", "ddp", "multinode"]
VOCAB = ["<pad>", "<unk>", "good", "bad", "plot", "film"]
PARSE_SECONDS = 1.0  # each parse of the vectors file (and each read of the corpus) lasts at least this long


# ---- two processes, one build ------------------------------------------------------------------------------


def _count_and_slow_down(counter: Path, module: Any, name: str) -> None:
    """Make ``module.name`` append a line (its caller) to ``counter`` and last PARSE_SECONDS more."""
    real = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        import inspect

        with counter.open("a") as handle:  # O_APPEND: the lines of both processes never mix
            handle.write(f"{name} from {inspect.stack()[1].function}\n")
        time.sleep(PARSE_SECONDS)  # without the lock the other process would start its own parse meanwhile
        return real(*args, **kwargs)

    setattr(module, name, counted)


def _build_matrix(barrier: Any, vectors: str, cache: str, counter: str, out: str) -> None:
    """A spawned process: ask for the vectors matrix (together with the other one) and save what it got."""
    from textclf.vectors import files as VF

    _count_and_slow_down(Path(counter), VF, "read_vectors")
    barrier.wait(60)
    matrix, _ = V.build_embedding_matrix(vectors, VOCAB, cache_dir=cache, seed=3)
    np.save(out, matrix)


def _prepare_data(barrier: Any, root: str, counter: str, out: str) -> None:
    """A spawned process: prepare tiny_data's files (vocabulary with the vectors' words, then the matrix)."""
    from textclf.vectors import files as VF

    _count_and_slow_down(Path(counter), VF, "read_vectors")
    _count_and_slow_down(Path(counter), FileDataModule, "read_splits")
    files = {"vectors": str(Path(root, "vectors.txt")), "cache_dir": str(Path(root, "cache"))}
    data = FileDataModule(str(Path(root, "train.csv")), keep_words_with_vectors=True, **files)
    barrier.wait(60)
    data.prepare()
    assert data.embeddings is not None
    np.save(out, data.embeddings.numpy())
    Path(out).with_suffix(".vocab").write_text("\n".join(data.vocab.tokens))


def _run_two(target: Any, *args: Any) -> None:
    """Run ``target(barrier, *args, out)`` in two spawned processes at once (out: ``<args[-1]>.<i>.npy``)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    processes = [context.Process(target=target, args=(barrier, *args[:-1], f"{args[-1]}.{i}.npy")) for i in (0, 1)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(180)
    for process in processes:
        if process.is_alive():
            process.kill()
    assert [process.exitcode for process in processes] == [0, 0]


def test_two_processes_asking_for_the_same_matrix_parse_the_vectors_file_once(tmp_path):
    vectors, counter, out = write_vectors(tmp_path / "vectors.txt"), tmp_path / "parses.txt", tmp_path / "matrix"
    _run_two(_build_matrix, str(vectors), str(tmp_path / "cache"), str(counter), str(out))
    assert counter.read_text().splitlines() == ["read_vectors from parse_vectors"]
    first, second = np.load(f"{out}.0.npy"), np.load(f"{out}.1.npy")
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, V.build_embedding_matrix(vectors, VOCAB, seed=3)[0])


def test_two_processes_preparing_the_same_data_read_the_corpus_and_the_vectors_once(tmp_path):
    counter, out = tmp_path / "reads.txt", tmp_path / "embeddings"
    tiny_data(tmp_path)  # writes the corpus and the vectors (once: each write would change the cache key)
    _run_two(_prepare_data, str(tmp_path), str(counter), str(out))
    assert sorted(counter.read_text().splitlines()) == [
        "read_splits from _build_cache",
        "read_vectors from parse_vectors",  # one parse serves the word list (keep_words_with_vectors) and the matrix
    ]
    np.testing.assert_array_equal(np.load(f"{out}.0.npy"), np.load(f"{out}.1.npy"))
    assert Path(f"{out}.0.vocab").read_text() == Path(f"{out}.1.vocab").read_text()


# ---- waiting for the lock ----------------------------------------------------------------------------------


def _held(lock_path: Path) -> FileLock:
    """The lock of a cache entry, held (as by another process building the entry)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path, thread_local=False)  # released by another thread in one test
    lock.acquire()
    return lock


def test_a_lock_held_past_the_timeout_gives_one_line_naming_the_entry(tmp_path, monkeypatch):
    vectors = write_vectors(tmp_path / "v.txt")
    V.build_embedding_matrix(vectors, VOCAB, cache_dir=tmp_path / "elsewhere")  # the key does not hold cache_dir
    (name,) = [p.name for p in (tmp_path / "elsewhere" / "vectors-matrix").iterdir() if p.is_dir()]
    entry = tmp_path / "cache" / "vectors-matrix" / name
    lock = _held(entry.with_name(name + ".lock"))
    monkeypatch.setenv("TEXTCLF_WAIT_TIMEOUT", "0.3")
    start = time.monotonic()
    with pytest.raises(TextclfError) as error:
        V.build_embedding_matrix(vectors, VOCAB, cache_dir=tmp_path / "cache")
    assert 0.3 <= time.monotonic() - start < 10
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"waited 0.3 s for another process to build the vectors-matrix cache entry {entry} ")
    assert message.endswith("see that process's error, or raise $TEXTCLF_WAIT_TIMEOUT")
    assert not entry.exists()
    lock.release()
    V.build_embedding_matrix(vectors, VOCAB, cache_dir=tmp_path / "cache")  # free again: builds it
    assert entry.is_dir()


def test_prepare_waits_for_the_lock_then_reads_what_the_other_process_built(tmp_path, monkeypatch):
    data = tiny_data(tmp_path)
    entry = data._cache_path()
    other = FileDataModule(str(tmp_path / "train.csv"), vectors=str(tmp_path / "vectors.txt"), cache_dir=str(tmp_path))
    assert other._cache_path() == tmp_path / "data" / entry.name  # the same entry in another cache folder
    other.prepare()
    lock = _held(entry.with_name(entry.name + ".lock"))
    monkeypatch.setenv("TEXTCLF_WAIT_TIMEOUT", "0.2")
    expected = f"waited 0.2 s for another process to build the data cache entry {entry} "
    with pytest.raises(TextclfError, match="^" + re.escape(expected)):
        data.prepare()

    def build_then_release() -> None:  # what the process holding the lock does: rename a finished entry into place
        time.sleep(0.5)
        shutil.copytree(other._cache_path(), entry.with_name(".staging"))
        entry.with_name(".staging").rename(entry)
        lock.release()

    monkeypatch.setenv("TEXTCLF_WAIT_TIMEOUT", "60")
    monkeypatch.setattr(data, "_build_cache", lambda *args: pytest.fail("the waiting process must not build"))
    thread = threading.Thread(target=build_then_release)
    start = time.monotonic()
    thread.start()
    meta = data.prepare()
    thread.join()
    assert time.monotonic() - start >= 0.5
    assert meta == other.prepare() and len(data.split("train")) == meta["sizes"]["train"]


def test_a_wait_timeout_that_is_not_a_number_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTCLF_WAIT_TIMEOUT", "1h")
    with pytest.raises(TextclfError, match=r"TEXTCLF_WAIT_TIMEOUT='1h' is not a number of seconds"):
        tiny_data(tmp_path).prepare()


def test_no_module_of_the_package_imports_the_removed_polling():
    package = Path(V.__file__).resolve().parents[1]
    assert not (package / "distributed.py").exists()
    offenders = [p for p in package.rglob("*.py") if "textclf.distributed" in p.read_text()]
    assert offenders == []


# ---- recipe layers -----------------------------------------------------------------------------------------


def _printed_config(capsys, *args: str) -> dict:
    return printed_config(capsys, ["fit", "-c", str(RECIPES / "imdb" / "bilstm_max.yaml"), *args])


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_sets_its_keys_and_keeps_the_recipes_trainer(layer, capsys):
    base = _printed_config(capsys)["trainer"]
    layered = _printed_config(capsys, "-c", str(RECIPES / "_base" / f"{layer}.yaml"))["trainer"]
    own = yaml.safe_load((RECIPES / "_base" / f"{layer}.yaml").read_text())["trainer"]
    assert {k: layered[k] for k in own} == own
    assert layered["precision"] == "bf16-mixed" and layered["accelerator"] == "gpu"
    assert {k: v for k, v in layered.items() if k not in own} == {k: v for k, v in base.items() if k not in own}
    assert [c["class_path"].rpartition(".")[2] for c in layered["callbacks"]] == [
        "ModelCheckpoint",
        "EarlyStopping",
        "Resumable",
        "NonFiniteGuard",
        "RunStory",
    ]
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
