"""``--threads`` (recipe key ``threads``): it reaches torch in every subcommand, bad values are one line, and the
default follows the CPUs the process may use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from factories import run_script, small_fit_args

import textclf.threads
from textclf.cli import main
from textclf.errors import TextclfError
from textclf.threads import cgroup_cpu_quota, set_threads, usable_cpus


@pytest.fixture(autouse=True)
def torch_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with torch at 2 threads, no thread variables and textclf's memory of torch's default
    cleared; the process's thread count and environment are restored afterwards."""
    before = torch.get_num_threads()
    for name in textclf.threads.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(textclf.threads, "_torch_default", None)
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("threads")
    args = small_fit_args(
        root, "--model.encoder.init_args.hidden_size=4", "--threads=1", max_epochs=1, train_rows=30, test_rows=10
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    saved = os.environ.get("OMP_NUM_THREADS")
    try:
        main(args)
        assert torch.get_num_threads() == 1  # fit --threads 1 reached torch in the running process
    finally:
        torch.set_num_threads(threads)
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    return root / "runs" / "custom" / "csv" / "version_0" / "checkpoints" / "best.ckpt"


def test_fit_takes_threads_from_the_command_line(checkpoint: Path) -> None:
    assert checkpoint.is_file()  # the fixture's fit ran with --threads 1 and saw torch at 1 thread


def test_predict_threads_win_over_omp_num_threads_in_a_fresh_process(checkpoint: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("a superb film\n")
    script = (
        "import os, sys, torch; from textclf.cli import main; os.environ['OMP_NUM_THREADS'] = '1';"
        "main(['predict', sys.argv[1], sys.argv[2], '-o', sys.argv[3], '--no-progress', '--threads', '3']);"
        "print(torch.get_num_threads(), os.environ['OMP_NUM_THREADS'])"
    )
    result = run_script(script, str(checkpoint), str(texts), str(tmp_path / "out.jsonl"))
    assert result.stdout.split() == ["3", "3"]


def test_a_config_file_sets_threads_for_predict(checkpoint: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("a superb film\n")
    config = {"checkpoint": str(checkpoint), "inputs": [str(texts)], "output": str(tmp_path / "o.jsonl")}
    (tmp_path / "predict.yaml").write_text(yaml.safe_dump({**config, "threads": 1, "progress": False}))
    main(["predict", "-c", str(tmp_path / "predict.yaml")])
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("value", ["0", "-1", "x"])
@pytest.mark.parametrize("subcommand", [["predict", "model.ckpt"], ["export", "model.ckpt", "out"], ["fit"]])
def test_bad_thread_counts_are_one_line_errors(
    subcommand: list[str], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*subcommand, "--threads", value])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("textclf: error: ") and '"threads"' in lines[0], lines


def test_the_default_follows_the_affinity_when_it_is_smaller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textclf.threads, "cgroup_cpu_quota", lambda: None)
    monkeypatch.setattr(textclf.threads, "_torch_default", 4)  # torch's own count: 4 physical cores
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert set_threads(None) == 1 and torch.get_num_threads() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert set_threads(None) == 4 and torch.get_num_threads() == 4  # never more than torch's own count


def test_the_default_leaves_omp_num_threads_to_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert set_threads(None) == 2 and torch.get_num_threads() == 2


def test_a_cgroup_quota_caps_the_usable_cpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 2  # 1.5 CPUs, rounded up
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    monkeypatch.setattr(textclf.threads, "cgroup_cpu_quota", lambda: 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(4)))
    assert usable_cpus() == 1


def test_python_callers_get_a_one_line_error_for_a_bad_count() -> None:
    with pytest.raises(TextclfError, match="threads must be a whole number of at least 1, got 0"):
        set_threads(0)
