"""Offline first: a public corpus without its files and without the Hub fails in seconds, in one line that says where.

The Hub is made unreachable deterministically: ``HF_ENDPOINT`` points at a closed local port (refused at once), or
``HF_HUB_OFFLINE`` is set. Nothing here may hang: the one child process runs under a timeout, and the in-process
tests refuse every socket.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from factories import forbid
from fixtures_sentences import write_trec

from textclf import TextclfError
from textclf.data import hub
from textclf.data.corpora import TREC

TREC_NAMES = ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]


def closed_port() -> int:
    """A local TCP port with nothing listening on it (a connection is refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_hub_cache(cache: Path, repo_id: str = "CogComp/trec") -> Path:
    """``cache`` holding ``repo_id`` as ``datasets`` keeps a Hub dataset it has downloaded once.

    The layout of ``datasets``' cache: ``<namespace>___<name>/<config>/<version>/<hash>/`` with the Arrow files and
    ``dataset_info.json``, written here by ``datasets``' own Parquet builder from a 3-row train and 1-row test split.
    """
    parquet, build = cache.parent / "parquet", cache.parent / "build"
    label = datasets.ClassLabel(names=TREC_NAMES)
    features = datasets.Features({"text": datasets.Value("string"), "coarse_label": label})
    parquet.mkdir(parents=True, exist_ok=True)
    rows = {"train": (["who is he ?", "where is it ?", "how many ?"], [3, 4, 5]), "test": (["who ?"], [3])}
    for split, (texts, labels) in rows.items():
        table = datasets.Dataset.from_dict({"text": texts, "coarse_label": labels}, features=features)
        table.to_parquet(str(parquet / f"{split}.parquet"))
    from datasets.data_files import DataFilesDict
    from datasets.packaged_modules.parquet.parquet import Parquet

    files = DataFilesDict.from_patterns({s: [f"{s}.parquet"] for s in rows}, base_path=str(parquet))
    name = repo_id.split("/")[1]
    builder = Parquet(cache_dir=str(build), dataset_name=name, config_name="default", data_files=files, hash="0" * 40)
    builder.download_and_prepare()
    (config,) = (build / name).iterdir()  # default-<hash of the data files>: a Hub download's folder is "default"
    target = cache / repo_id.replace("/", "___") / "default"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(config), str(target))
    return cache


def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every socket connection and name lookup, and the Hub probe, fail the test."""
    for target, name in ((socket.socket, "connect"), (socket, "create_connection"), (socket, "getaddrinfo")):
        forbid(monkeypatch, target, name, f"the network was touched (socket {name})")
    forbid(monkeypatch, hub, "unreachable", "the Hub was asked")


CHILD = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
from textclf import TextclfError
from textclf.data.corpora import TREC
empty, cache = sys.argv[1], sys.argv[2]
try:
    TREC(data_dir=empty, hub_id="CogComp/not-cached", cache_dir=cache).read_splits()
except TextclfError as e:
    print("ERROR", e)
splits = TREC(data_dir=empty, cache_dir=cache).read_splits()
print("SIZES", {name: len(split.texts) for name, split in splits.items()}, splits["test"].labels)
"""


def test_no_files_and_an_unreachable_hub_fail_at_once_naming_the_folder(tmp_path: Path) -> None:
    """The user's case: a wrong data_dir, no Hub. One line naming the folder, the files and the fixes; no retries.

    Before, huggingface_hub retried five times with backoff (about 25 s here, 1.5 min where connections time out)
    and the error named neither the folder nor the fix. A dataset in the Hub cache still loads, without the Hub.
    """
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "TEXTCLF_DATA"))}
    env |= {
        "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
        "HF_DATASETS_CACHE": str(write_hub_cache(tmp_path / "hf")),
        "HF_HOME": str(tmp_path / "hf-home"),
        "PYTHONWARNINGS": "ignore",
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(empty), str(tmp_path / "c")],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,  # the import takes seconds; a retrying Hub client would still finish well within this
    )
    assert child.returncode == 0, child.stderr
    error = next(line for line in child.stdout.splitlines() if line.startswith("ERROR"))
    assert f"no original files in {empty} (data_dir): expected TREC.train, TREC.test" in error
    assert "the Hub copy CogComp/not-cached cannot be used: http://127.0.0.1:" in error
    assert "cannot be reached (ConnectError" in error and f"not in the Hub cache {tmp_path / 'hf'}" in error
    assert error.endswith("point data_dir at the folder holding TREC.train and TREC.test, or set TEXTCLF_DATA to the "
                          "folder holding trec/, or go online")  # fmt: skip
    assert "Retrying" not in child.stdout + child.stderr  # one request, not huggingface_hub's five retries
    assert "SIZES {'train': 3, 'test': 1} ['HUM']" in child.stdout
    assert "so CogComp/trec was loaded from the Hub cache" in child.stdout


def test_hf_hub_offline_is_respected_even_when_set_after_import(tmp_path: Path, monkeypatch) -> None:
    """HF_HUB_OFFLINE set after datasets was imported: still no request, and the error says to unset it."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("TEXTCLF_DATA", raising=False)
    no_network(monkeypatch)
    corpus = TREC(data_dir=str(tmp_path), cache_dir=str(tmp_path / "c"))
    with pytest.raises(TextclfError) as error:
        corpus.prepare()
    message = str(error.value)
    assert "\n" not in message and f"no original files in {tmp_path} (data_dir): expected TREC.train" in message
    assert "the Hub copy CogComp/trec cannot be used: HF_HUB_OFFLINE=1 is set, and it is not in the Hub cache" in (
        message
    )
    assert message.endswith("or unset HF_HUB_OFFLINE")


def test_a_cached_hub_dataset_loads_offline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    no_network(monkeypatch)
    cache = write_hub_cache(tmp_path / "hf")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)  # read by datasets at call time
    corpus = TREC(data_dir=str(tmp_path / "none"), cache_dir=str(tmp_path / "c"))
    splits = corpus.read_splits()
    assert splits["train"].labels == ["HUM", "LOC", "NUM"] and splits["test"].texts == ["who ?"]
    assert datasets.config.HF_HUB_OFFLINE is False  # offline mode is restored after the load


def test_with_the_files_present_nothing_touches_the_network(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    no_network(monkeypatch)
    corpus = TREC(data_dir=str(write_trec(tmp_path / "trec")), cache_dir=str(tmp_path / "c"))
    assert corpus.prepare()["sizes"]["test"] == 2


def test_a_folder_one_level_too_high_is_named_as_the_fix(tmp_path: Path, monkeypatch) -> None:
    write_trec(tmp_path / "data" / "trec")
    monkeypatch.delenv("TEXTCLF_DATA", raising=False)
    with pytest.raises(TextclfError, match=r"set data_dir to .*data/trec, or source: hub$"):
        TREC(source="files", data_dir=str(tmp_path / "data")).read_splits()
    monkeypatch.setenv("TEXTCLF_DATA", str(tmp_path / "data" / "trec"))  # should be the folder holding trec/
    with pytest.raises(TextclfError, match=r"trec/trec \(\$TEXTCLF_DATA/trec\) does not exist: .*; \$TEXTCLF_DATA hol"):
        TREC(source="files").read_splits()


def test_offline_variables_follow_datasets_precedence(monkeypatch) -> None:
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    assert hub.offline_variable() is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "yes")
    assert hub.offline_variable() == "HF_HUB_OFFLINE=yes"
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")  # datasets' own variable wins when set
    assert hub.offline_variable() is None
