"""The Hugging Face Hub for the public corpora, offline first: offline mode respected, an unreachable Hub found fast.

``datasets.load_dataset`` retries an unreachable Hub for tens of seconds to minutes (five retries with backoff,
each waiting for its connect timeout) before it falls back to its cache or fails. Before loading a Hub id, textclf
therefore asks the Hub once, with a short timeout (:func:`unreachable`); when that request gets no answer, or when
``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` is set (:func:`offline_variable`), the dataset is loaded from the Hub
cache only, in ``datasets``' own offline mode (:func:`offline_mode`), so no request is made and the caller can fail
within seconds with its own message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

TRUE_VALUES = frozenset({"1", "ON", "YES", "TRUE"})  # what datasets and huggingface_hub read as true
PROBE_TIMEOUT_S = 5.0


def offline_variable() -> str | None:
    """The environment variable that puts the Hub offline (e.g. ``"HF_HUB_OFFLINE=1"``), or None when none does.

    Read now, not at import, with ``datasets``' precedence: ``HF_DATASETS_OFFLINE`` when set, else
    ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``, as huggingface_hub reads it).
    """
    names = ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"]
    if os.environ.get("HF_DATASETS_OFFLINE"):  # datasets' own variable, when set, decides alone
        names = ["HF_DATASETS_OFFLINE"]
    for name in names:
        value = os.environ.get(name, "")
        if value.upper() in TRUE_VALUES:
            return f"{name}={value}"
    return None


def probe_timeout() -> float:
    """Seconds to wait for the Hub's answer.

    ``HF_HUB_ETAG_TIMEOUT`` when set (huggingface_hub's timeout for metadata requests), else :data:`PROBE_TIMEOUT_S`.
    """
    try:
        return float(os.environ.get("HF_HUB_ETAG_TIMEOUT") or PROBE_TIMEOUT_S)
    except ValueError:
        return PROBE_TIMEOUT_S


def endpoint() -> str:
    """The Hub endpoint ``datasets`` uses (``HF_ENDPOINT``, default ``https://huggingface.co``)."""
    import datasets.config

    return str(datasets.config.HF_ENDPOINT)


def unreachable(repo_id: str, timeout: float | None = None) -> str | None:
    """Why the Hub cannot be reached (``"ConnectError: [Errno 111] Connection refused"``), or None when it answers.

    One request for the dataset's metadata (``HfApi.dataset_info``), no retries, waiting at most ``timeout``
    seconds (default :func:`probe_timeout`). Any HTTP answer, an error status included (unknown or gated
    dataset), counts as reachable: ``datasets.load_dataset`` then reports it in its own words.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
    from huggingface_hub.utils import httpx

    seconds = probe_timeout() if timeout is None else timeout
    try:
        HfApi(endpoint=endpoint()).dataset_info(repo_id, timeout=seconds)
    except HfHubHTTPError:
        return None
    except httpx.TimeoutException:
        return f"no answer from {endpoint()} within {seconds:g} s"
    except (httpx.TransportError, OfflineModeIsEnabled, OSError) as e:
        detail = str(e).strip().split("\n")[0]
        return f"{endpoint()} cannot be reached ({type(e).__name__}: {detail})" if detail else type(e).__name__
    except Exception:  # anything else is for load_dataset to report
        return None
    return None


def cache_folder() -> str:
    """The folder of ``datasets``' cache (``HF_DATASETS_CACHE``), where Hub datasets loaded before are kept."""
    import datasets.config

    return str(datasets.config.HF_DATASETS_CACHE)


@contextmanager
def offline_mode() -> Iterator[None]:
    """``datasets`` and ``huggingface_hub`` in their offline mode for the block: the Hub cache only, no request.

    Their offline switches are read from the environment when they are imported; this sets them for the block
    (as ``HF_HUB_OFFLINE=1`` would have) and restores them after.
    """
    import datasets.config
    from huggingface_hub import constants

    saved = (datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE, constants.HF_HUB_OFFLINE)
    datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE, constants.HF_HUB_OFFLINE = saved
