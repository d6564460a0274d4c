"""Resume after a crash: a real ``textclf fit`` killed at several points ends exactly as an uninterrupted run.

One uninterrupted run is the reference. One chain of processes trains the same run (same seed, CPU) and is stopped
again and again: SIGKILL in the middle of an epoch, SIGKILL during validation, SIGKILL while a checkpoint file is
half written, SIGKILL inside a checkpoint save, SIGTERM in the middle of an epoch (which writes last.ckpt and exits
143); each time ``textclf fit --ckpt_path last`` continues in the same run directory. The chain's test metrics and
its whole metrics.csv equal the reference's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from factories import QUIET_TRAINER_ARGS, RECIPES, write_csv

import textclf
from textclf.cli import main

TESTS = Path(__file__).resolve().parent
TIMEOUT = 300
RUN = Path("custom") / "csv" / "version_0"


def fit_args(root: Path, *extra: str) -> list[str]:
    """fit on a 200-row CSV corpus: 10 training batches and 5 validation batches per epoch, 4 epochs, no vectors."""
    train = root.parent / "train.csv"
    if not train.exists():
        write_csv(train, rows=200)
    return [
        "fit",
        "-c",
        str(RECIPES / "custom" / "csv.yaml"),
        f"--data.init_args.train={train}",
        "--data.init_args.vectors=null",
        f"--data.init_args.cache_dir={root.parent / 'cache'}",
        "--data.init_args.batch_size=16",
        "--data.init_args.eval_batch_size=4",
        "--model.embedding_dim=8",
        "--model.encoder.init_args.hidden_size=8",
        "--model.optimizer.init_args.lr=0.02",
        "--trainer.max_epochs=4",
        "--trainer.log_every_n_steps=3",  # train/loss rows in metrics.csv too, mid-epoch
        *QUIET_TRAINER_ARGS,
        f"--trainer.default_root_dir={root}",
        *extra,
    ]


def start(root: Path, *extra: str) -> subprocess.Popen[str]:
    """``python -m textclf fit`` in a fresh process (tests/ on the path for resume_callbacks)."""
    # TMPDIR: the half-written temporary file of the "write" fault stays in the test's folder
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", TMPDIR=str(root.parent / "tmp"))
    (root.parent / "tmp").mkdir(exist_ok=True)
    paths = [str(Path(textclf.__file__).resolve().parents[1]), str(TESTS), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    root.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "textclf", *fit_args(root, *extra)]
    return subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=TIMEOUT)
    return process.returncode, stderr


def kill_at(where: str, **options: int) -> list[str]:
    args = ["--trainer.callbacks+=resume_callbacks.KillAt", f"--trainer.callbacks.init_args.where={where}"]
    return args + [f"--trainer.callbacks.init_args.{key}={value}" for key, value in options.items()]


# (fault, expected exit status): each process of the chain but the last is stopped by its fault
CHAIN = [
    (kill_at("batch", step=13), -9),  # mid-epoch 1 (last.ckpt: end of epoch 0)
    (kill_at("validation", epoch=1), -9),  # during the validation of epoch 1
    (kill_at("write", count=1), -9),  # half-way through writing the first checkpoint file of this process
    (kill_at("save", count=1), -9),  # inside the first checkpoint save, before any byte is written
    (kill_at("batch", step=25, signal=15), 143),  # SIGTERM mid-epoch 2: last.ckpt of 5 batches into epoch 2
    ([], 0),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The reference run (in parallel with the chain) and the chain; what each chain process said."""
    root = tmp_path_factory.mktemp("resume")
    reference = start(root / "reference")
    statuses = []
    for number, (fault, expected) in enumerate(CHAIN):
        resume = ["--ckpt_path=last"] if number else []
        status, stderr = finish(start(root / "chain", *fault, *resume))
        assert status == expected, f"process {number} of the chain: status {status}\n{stderr[-4000:]}"
        last = torch.load(root / "chain" / RUN / "checkpoints" / "last.ckpt", weights_only=True)
        statuses.append((status, stderr, last["global_step"], last["loops"]["fit_loop"]["state_dict"]))
    status, stderr = finish(reference)
    assert status == 0, stderr[-4000:]
    return {"reference": root / "reference" / RUN, "chain": root / "chain" / RUN, "statuses": statuses}


def test_a_run_killed_and_resumed_again_and_again_ends_exactly_as_an_uninterrupted_one(runs: dict) -> None:
    reference, chain = runs["reference"], runs["chain"]
    expected = json.loads((reference / "test_metrics.json").read_text())
    got = json.loads((chain / "test_metrics.json").read_text())
    assert got.pop("checkpoint").endswith(f"{RUN}/checkpoints/best.ckpt")
    expected.pop("checkpoint")
    assert got == expected
    assert (chain / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    reference_rows = (reference / "metrics.csv").read_text().splitlines()
    header = reference_rows[0].split(",")
    assert "train/loss" in header and "val/loss" in header and len(reference_rows) > 12  # not vacuous
    assert not (chain.parent / "version_1").exists()  # every resume continued in version_0


def test_sigterm_finishes_the_batch_writes_last_ckpt_and_exits_143(runs: dict) -> None:
    status, stderr, global_step, loop_state = runs["statuses"][4]
    assert status == 143
    lines = [line for line in stderr.splitlines() if "SIGTERM" in line and line.startswith("textclf")]
    assert lines and "epoch 2, global step 26, batch 5" in lines[0] and "last.ckpt" in lines[0], stderr[-2000:]
    # signalled before batch 5 of epoch 2: that batch finished, so 26 batches are trained, 6 of them in epoch 2
    (loader,) = loop_state["combined_loader"]
    assert global_step == 26 and (loader["epoch"], loader["batches"]) == (2, 6)
    assert loader["batch_size"] == 16 and loader["texts"] > 0  # what check_resume compares


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("--data.init_args.batch_size=8", "the run used data.batch_size 16, this command 8"),  # skipped texts
        ("--data.init_args.min_freq=50", "vocabulary"),  # other data
    ],
)
def test_a_refused_resume_leaves_the_run_untouched(
    runs: dict, change: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = runs["chain"]
    before = {name: (chain / name).read_bytes() for name in ("config.yaml", "metrics.csv", "checkpoints/last.ckpt")}
    with pytest.raises(SystemExit) as exit_info:
        main(fit_args(chain.parents[2], "--ckpt_path=last", change))
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and err[-1].startswith("textclf: error: ") and reason in err[-1], err[-3:]
    assert {name: (chain / name).read_bytes() for name in before} == before  # config.yaml was rewritten before


def test_ckpt_path_last_without_any_last_ckpt_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(fit_args(tmp_path / "runs", "--ckpt_path=last"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("textclf: error: --ckpt_path last: no ") and "last.ckpt" in err[-1]
    assert not (tmp_path / "runs" / "custom").exists()  # nothing trained from scratch


def test_a_checkpoint_file_of_a_run_continues_in_that_run(runs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    from factories import printed_config

    best = runs["chain"] / "checkpoints" / "best.ckpt"
    config = printed_config(capsys, fit_args(runs["chain"].parents[2], f"--ckpt_path={best}"))
    logger = config["trainer"]["logger"]["init_args"]
    assert Path(logger["save_dir"]) / logger["name"] / f"version_{logger['version']}" == runs["chain"]


def test_ctrl_c_writes_last_ckpt_and_says_so(tmp_path: Path) -> None:
    status, stderr = finish(start(tmp_path / "runs", *kill_at("batch", step=13, signal=2)))  # SIGINT mid-epoch 1
    lines = [line for line in stderr.splitlines() if line.startswith("textclf") and "Ctrl-C" in line]
    assert status == 1 and lines and "last.ckpt; continue with --ckpt_path last" in lines[0], stderr[-2000:]
    last = torch.load(tmp_path / "runs" / RUN / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] >= 13  # the batches trained before the interrupt, not the end of epoch 0 (10)
