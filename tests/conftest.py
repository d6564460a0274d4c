"""Shared test set-up: keep ``datasets``' own cache out of ``~/.cache`` and locate the real corpora for slow tests."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

# ``datasets`` writes an Arrow copy of every CSV/JSONL/Parquet file it reads into its cache (even with
# keep_in_memory=True). It reads this variable when first imported, so it is set here, before any test module
# imports textclf's readers.
if "HF_DATASETS_CACHE" not in os.environ:
    _hf_cache = tempfile.mkdtemp(prefix="textclf-tests-hf-")
    os.environ["HF_DATASETS_CACHE"] = _hf_cache
    atexit.register(shutil.rmtree, _hf_cache, ignore_errors=True)


@pytest.fixture
def real_data() -> Path:
    """``$TEXTCLF_DATA``, the folder of the real corpora (trec/, sst2/, mr/...); skips the test when it is absent."""
    root = os.environ.get("TEXTCLF_DATA")
    if not root:
        pytest.skip("set TEXTCLF_DATA to the folder of the real corpora (e.g. ../shared/data) to run this slow test")
    path = Path(root).expanduser()
    if not (path / "trec").is_dir():
        pytest.skip(f"TEXTCLF_DATA={root} does not hold the real corpora (no trec/ folder)")
    return path


@pytest.fixture(scope="session")
def hub_online() -> None:
    """Skip a ``network`` test when the Hugging Face Hub cannot be reached from here (checked in milliseconds)."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", ""):
        pytest.skip("HF_HUB_OFFLINE is set")
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return  # through a proxy: let the test try
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError as e:
        pytest.skip(f"the Hugging Face Hub ({host}) is unreachable: {e}")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread is fastest, and avoids OpenMP stalls when the CPU is shared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
