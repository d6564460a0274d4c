"""``textclf serve``: the real server on loopback, real HTTP requests, good, bad and concurrent ones."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import FILLER, NEGATIVE, POSITIVE

from textclf import BagOfEmbeddingsEncoder, TextClassifier, TextclfError
from textclf.checkpoint import model_config
from textclf.inference import encode_texts, predict_proba

pytest.importorskip("litserve")

from textclf.serve import MAX_BODY_BYTES, MAX_TEXTS

ROOT = Path(__file__).resolve().parents[1]
WORDS = POSITIVE + NEGATIVE + FILLER
LABELS = ["a", "b", "c"]
SERVER = """
import sys
from jsonargparse import ArgumentParser
from textclf.serve_cli import add_arguments, run
parser = ArgumentParser()
add_arguments(parser)
run(parser.parse_args(sys.argv[1:]))
"""
TEXTS = ["good film", "awful boring plot", "the acting was really quite superb", "", "bad bad bad good"]


def write_checkpoint(path: Path, multi_label: bool = False) -> Path:
    """A small seeded (untrained) three-class model saved the way textclf fit saves it."""
    torch.manual_seed(0)
    options = {"embedding_dim": 8, "embedding_mode": "random", "multi_label": multi_label}
    model = TextClassifier(BagOfEmbeddingsEncoder(), vocab=["<pad>", "<unk>", *WORDS], labels=LABELS, **options)
    if multi_label:
        model.decision_thresholds.fill_(0.45)  # not the 0.5 default: the server must use the checkpoint's
    torch.save({"textclf": model_config(model), "state_dict": model.state_dict()}, path)
    return path


class Server:
    """A ``textclf serve`` subprocess on a free loopback port, in its own process group."""

    def __init__(self, checkpoint: Path, *options: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        args = [sys.executable, "-c", SERVER, str(checkpoint), "--port", str(self.port), *options]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        self.model = TextClassifier.load_from_checkpoint(checkpoint)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited: {self.process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if self.request("GET", "/health", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail("the server was not healthy within a minute")

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def predict(self, payload: object, **kwargs: object) -> tuple[int, dict]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        status, data = self.request("POST", "/predict", body, {"Content-Type": "application/json"}, **kwargs)
        return status, json.loads(data)

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        finally:
            with contextlib.suppress(ProcessLookupError):  # what is left of the group (LitServe workers), by its id
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """A single-label and a multi-label server, started together (their start-ups overlap)."""
    root = tmp_path_factory.mktemp("serve")
    started: dict[str, Server] = {}
    try:
        started["single"] = Server(write_checkpoint(root / "single.ckpt"), "--max_batch_size", "4")
        started["multi"] = Server(write_checkpoint(root / "multi.ckpt", multi_label=True), "--max-batch-size", "1")
        for server in started.values():
            server.wait_healthy()
        yield started
    finally:
        for server in started.values():
            server.stop()


def expected(model: TextClassifier, texts: list[str]) -> np.ndarray:
    return model.predict_proba(texts)


def test_predictions_are_predict_proba_of_the_checkpoint(servers: dict[str, Server]) -> None:
    server = servers["single"]
    status, answer = server.predict({"texts": TEXTS})
    assert status == 200
    probs = expected(server.model, TEXTS)
    assert len(answer["predictions"]) == len(TEXTS)
    for record, row in zip(answer["predictions"], probs, strict=True):
        assert set(record) == {"label", "probs"}
        assert record["label"] == LABELS[int(row.argmax())]
        np.testing.assert_allclose([record["probs"][name] for name in LABELS], row, atol=1e-6)


def test_top_k_and_threshold_per_request(servers: dict[str, Server]) -> None:
    server = servers["single"]
    probs = expected(server.model, TEXTS)
    status, answer = server.predict({"texts": TEXTS, "top_k": 2, "threshold": 0.34})
    assert status == 200
    for record, row in zip(answer["predictions"], probs, strict=True):
        ranked = [LABELS[i] for i in np.argsort(-row, kind="stable")]
        assert [pair["label"] for pair in record["top_k"]] == ranked[:2]
        assert record["labels"] == [name for name in ranked if row[LABELS.index(name)] >= 0.34]
        assert record["label"] == (record["labels"][0] if record["labels"] else None)


def test_multi_label_uses_the_checkpoint_thresholds_unless_the_request_gives_one(servers: dict[str, Server]) -> None:
    server = servers["multi"]
    probs = expected(server.model, TEXTS)
    for payload, limit in (({"texts": TEXTS}, 0.45), ({"texts": TEXTS, "threshold": 0.55}, 0.55)):
        status, answer = server.predict(payload)
        assert status == 200
        for record, row in zip(answer["predictions"], probs, strict=True):
            above = sorted(
                (name for name, p in zip(LABELS, row, strict=True) if p >= limit), key=lambda n: -row[LABELS.index(n)]
            )
            assert record["labels"] == above
            np.testing.assert_allclose([record["probs"][name] for name in LABELS], row, atol=1e-6)


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(servers: dict[str, Server]) -> None:
    server = servers["single"]
    requests = [[f"{WORDS[i % len(WORDS)]} {WORDS[(3 * i) % len(WORDS)]}"] * (1 + i % 3) for i in range(24)]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda texts: server.predict({"texts": texts}), requests))
    for texts, (status, answer) in zip(requests, answers, strict=True):
        assert status == 200
        got = [[record["probs"][name] for name in LABELS] for record in answer["predictions"]]
        np.testing.assert_allclose(got, expected(server.model, texts), atol=1e-6)


BAD = [
    (b"not json", 400, "not valid JSON"),
    (b"\xff\xfe{", 400, "not valid JSON"),
    (b"[" * 100_000, 400, "not valid JSON"),
    (b'["good"]', 400, "must be a JSON object"),
    (b'{"text": ["good"]}', 400, "unknown field 'text'"),
    (b"{}", 400, 'missing field "texts"'),
    (b'{"texts": "good film"}', 400, "texts must be a list of strings, not a string"),
    (b'{"texts": []}', 400, "texts is empty"),
    (b'{"texts": ["good", 3]}', 400, "texts[1] must be a string, not a number"),
    (json.dumps({"texts": ["a"] * (MAX_TEXTS + 1)}).encode(), 400, f"at most {MAX_TEXTS}"),
    (b'{"texts": ["good"], "top_k": 0}', 400, "top_k must be a whole number from 1 to 3"),
    (b'{"texts": ["good"], "top_k": 4}', 400, "top_k must be a whole number from 1 to 3"),
    (b'{"texts": ["good"], "top_k": 1.5}', 400, "top_k must be"),
    (b'{"texts": ["good"], "threshold": 1.5}', 400, "threshold must be a probability"),
    (b'{"texts": ["good"], "threshold": NaN}', 400, "threshold must be a probability"),
    (b'{"texts": ["good"], "threshold": "0.5"}', 400, "threshold must be a probability"),
]


def test_bad_requests_get_a_4xx_with_a_one_line_reason_and_the_server_keeps_serving(
    servers: dict[str, Server],
) -> None:
    server = servers["single"]
    for body, status, reason in BAD:
        got, answer = server.predict(body)
        assert got == status, (body[:40], answer)
        assert isinstance(answer["detail"], str) and "\n" not in answer["detail"], answer
        assert reason in answer["detail"], answer
    status, _ = server.request("GET", "/predict")
    assert status == 405
    status, answer = server.predict(b'{"texts": ["' + b"x" * (MAX_BODY_BYTES + 1) + b'"]}')
    assert status == 413 and "16 MiB" in answer["detail"]
    status, answer = server.predict({"texts": ["good film"]})  # still serving, and answering right
    assert status == 200
    np.testing.assert_allclose(
        list(answer["predictions"][0]["probs"].values()), expected(server.model, ["good film"])[0], atol=1e-6
    )


def test_a_form_content_type_is_read_as_json_as_curl_d_sends_it(servers: dict[str, Server]) -> None:
    server = servers["single"]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, data = server.request("POST", "/predict", b'{"texts": ["good film"]}', headers)
    assert status == 200 and len(json.loads(data)["predictions"]) == 1


def test_a_huge_text_is_cut_to_the_token_limit_not_a_crash(servers: dict[str, Server]) -> None:
    server = servers["single"]
    text = "good " * 100 + "awful " * 400_000  # 2.4 M characters; the model keeps 10,000 tokens (no max_length)
    status, answer = server.predict({"texts": [text, "good"]})
    assert status == 200
    cut = predict_proba(server.model, encode_texts(server.model, [text[: 10_000 * 64]], 10_000))[0]
    np.testing.assert_allclose(list(answer["predictions"][0]["probs"].values()), cut, atol=1e-6)
    assert server.request("GET", "/health")[0] == 200


def test_without_litserve_the_command_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from jsonargparse import ArgumentParser

    from textclf.serve_cli import add_arguments, run

    parser = ArgumentParser()
    add_arguments(parser)
    config = parser.parse_args(["model.ckpt", "--max-batch-size", "2", "--batch_timeout", "0.01"])
    assert (config.max_batch_size, config.batch_timeout, config.host, config.port) == (2, 0.01, "127.0.0.1", 8000)
    monkeypatch.setitem(sys.modules, "litserve", None)
    with pytest.raises(TextclfError, match=r"^textclf serve needs the serve extra: pip install 'textclf\[serve\]'$"):
        run(config)
