"""``textclf serve``: a checkpoint behind an HTTP JSON endpoint, on LitServe (``pip install 'textclf[serve]'``).

``POST /predict`` takes ``{"texts": [...], "top_k": K, "threshold": P}`` (``top_k`` and ``threshold`` optional)
and answers ``{"predictions": [...]}``: one record per text, in order, with the fields of a ``textclf predict``
JSONL record but ``text`` (``label``, ``labels`` with a threshold or a multi-label model, and ``probs`` or
``top_k``), written by :class:`textclf.predict_output.OutputFormat` from :func:`textclf.inference.predict_proba`.
``GET /health`` answers ``ok`` once the model is loaded. See docs/serving.md.

Every request is checked in the HTTP process by :class:`RequestCheck` before it is queued: LitServe batches
requests together and a request that failed inside a batch would fail the whole batch, so only well-formed
requests reach the model. A bad one gets a 4xx and ``{"detail": "one line"}``. Memory per request is bounded: at
most :data:`MAX_BODY_BYTES` bytes and :data:`MAX_TEXTS` texts; each text is cut to ``max_length x BYTES_PER_TOKEN``
characters before it is tokenised and to ``max_length`` tokens after (the rule of ``textclf predict``), and a
forward pass holds at most ``BATCH_TOKENS`` padded tokens.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import signal
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import litserve as ls
import numpy as np
from fastapi import HTTPException

from textclf.errors import TextclfError
from textclf.inference import refuse_context_head
from textclf.predict import BATCH_TOKENS, BYTES_PER_TOKEN, DEFAULT_MAX_LENGTH, MAX_TOKENS
from textclf.predict_output import OutputFormat

log = logging.getLogger("textclf.serve")

MAX_TEXTS = 256
"""Texts per request at most; more get a 400."""
MAX_BODY_BYTES = 16 << 20
"""Bytes of a request body at most (16 MiB); more get a 413."""
FIELDS = ("texts", "top_k", "threshold")
"""The fields a request may hold."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BadRequest(Exception):
    """A request the server refuses: ``status`` (4xx) and a one-line ``reason``."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


@dataclass(frozen=True)
class Query:
    """A checked request: its texts (cut to ``char_limit`` characters), ``top_k`` and ``threshold`` (or None)."""

    texts: list[str]
    top_k: int | None = None
    threshold: float | None = None


def check_request(payload: Any, num_labels: int, char_limit: int | None = None) -> Query:
    """The :class:`Query` of a decoded JSON request body; texts longer than ``char_limit`` characters are cut.

    Raises:
        BadRequest: not an object, an unknown field, ``texts`` missing, not a list of 1 to :data:`MAX_TEXTS`
            strings, ``top_k`` not a whole number in [1, ``num_labels``], ``threshold`` not a number in [0, 1].
    """
    if not isinstance(payload, dict):
        raise BadRequest(f'the body must be a JSON object like {{"texts": ["..."]}}, not {_kind(payload)}')
    unknown = [str(name) for name in payload if name not in FIELDS]
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}: a request holds texts, and optionally top_k and threshold")
    texts = payload.get("texts")
    if texts is None:
        raise BadRequest('missing field "texts": a list of strings')
    if not isinstance(texts, list):
        raise BadRequest(f"texts must be a list of strings, not {_kind(texts)}")
    if not texts:
        raise BadRequest("texts is empty: send at least one text")
    if len(texts) > MAX_TEXTS:
        raise BadRequest(f"{len(texts):,} texts in one request: at most {MAX_TEXTS} (split them into requests)")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise BadRequest(f"texts[{i}] must be a string, not {_kind(text)}")
    top_k, threshold = payload.get("top_k"), payload.get("threshold")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= num_labels):
        raise BadRequest(f"top_k must be a whole number from 1 to {num_labels} (the model's labels), got {top_k!r}")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1
    ):
        raise BadRequest(f"threshold must be a probability from 0 to 1, got {threshold!r}")
    if char_limit is not None:
        texts = [text[:char_limit] for text in texts]
    return Query(texts, top_k, None if threshold is None else float(threshold))


def _kind(value: Any) -> str:
    """The JSON name of a decoded value's type."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


class RequestCheck:
    """ASGI middleware: a ``POST`` to ``path`` must be a JSON :func:`check_request` accepts, else a 4xx.

    The answer to a bad request is ``{"detail": "one line"}``: 400 (bad JSON or fields) or 413 (a body over
    :data:`MAX_BODY_BYTES`). A good body is passed on unchanged, as JSON whatever its ``Content-Type``.
    """

    def __init__(self, app: Any, path: str, num_labels: int) -> None:
        self.app, self.path, self.num_labels = app, path, num_labels

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then hand it (with its body replayed) to the app, or answer the 4xx."""
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._body(scope, receive)
            try:
                payload = json.loads(body)
            except (ValueError, RecursionError) as e:  # bad JSON, bad UTF-8, nesting too deep
                reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise BadRequest(f"the body is not valid JSON ({reason})") from None
            check_request(payload, self.num_labels)
        except BadRequest as e:
            await _answer(send, e.status, {"detail": e.reason})
            return
        # the body is JSON whatever Content-Type says (curl -d says a form): LitServe must parse it as JSON
        headers = [(name, value) for name, value in scope.get("headers") or [] if name.lower() != b"content-type"]
        scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # a disconnect, if the client goes away
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _body(scope: Scope, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise BadRequest("the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise BadRequest(f"the body is over {MAX_BODY_BYTES >> 20} MiB: send fewer or shorter texts", 413)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def _answer(send: Send, status: int, content: dict[str, Any]) -> None:
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def token_limit(max_length: int | None) -> int:
    """Tokens kept per text: the checkpoint's tokenizer ``max_length`` (else 10,000), at most 100,000 (as predict)."""
    return min(max_length or DEFAULT_MAX_LENGTH, MAX_TOKENS)


class TextclfAPI(ls.LitAPI):
    """The LitServe API of a textclf checkpoint: batches of checked requests -> one :func:`predict_proba` call.

    Args:
        checkpoint: a .ckpt written by ``textclf fit`` (loaded in each worker by
            :func:`textclf.checkpoint.load_model`).
        threads: torch CPU threads per worker (None: :func:`textclf.threads.set_threads`'s default).
        max_batch_size: requests batched into one forward call at most (each holds up to :data:`MAX_TEXTS` texts).
        batch_timeout: seconds a worker waits to fill a batch.
    """

    def __init__(
        self, checkpoint: str, threads: int | None = None, max_batch_size: int = 8, batch_timeout: float = 0.005
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout)
        self.checkpoint, self.threads = checkpoint, threads

    def setup(self, device: str) -> None:
        """Load the model on ``device`` (``cpu``, ``cuda:0``, ...) and set the worker's torch threads."""
        from textclf.model import TextClassifier
        from textclf.threads import set_threads

        set_threads(self.threads)
        self.model = TextClassifier.load_from_checkpoint(self.checkpoint, map_location=device).to(device)
        self.limit = token_limit(self.model.tokenizer.max_length)

    def decode_request(self, request):  # type: ignore[no-untyped-def]  # no annotation: LitServe then parses JSON
        """The :class:`Query` of a request (:class:`RequestCheck` has refused bad ones; this re-check cannot fail)."""
        try:
            return check_request(request, len(self.model.labels), self.limit * BYTES_PER_TOKEN)
        except BadRequest as e:
            raise HTTPException(e.status, e.reason) from None

    def batch(self, inputs: list[Query]) -> list[Query]:
        """The requests as they are (:meth:`predict` joins their texts)."""
        return inputs

    def predict(self, x: Query | list[Query]) -> tuple[Query, np.ndarray] | list[tuple[Query, np.ndarray]]:
        """Each request with its probabilities ``(len(texts), num_labels)``: one forward loop for all texts."""
        from textclf.inference import encode_texts, predict_proba

        queries = x if isinstance(x, list) else [x]
        texts = [text for query in queries for text in query.texts]
        dataset = encode_texts(self.model, texts, self.limit)
        probs = predict_proba(self.model, dataset, 256, max_tokens=BATCH_TOKENS)
        bounds = np.cumsum([0] + [len(query.texts) for query in queries])
        outputs = [(query, probs[a:b]) for query, a, b in zip(queries, bounds[:-1], bounds[1:], strict=True)]
        return outputs if isinstance(x, list) else outputs[0]

    def unbatch(self, output: list[tuple[Query, np.ndarray]]) -> list[tuple[Query, np.ndarray]]:
        """One output per request."""
        return output

    def encode_response(self, output: tuple[Query, np.ndarray]) -> dict[str, Any]:
        """``{"predictions": [record, ...]}``: ``textclf predict``'s JSONL records without their ``text`` field."""
        query, probs = output
        limits = query.threshold if query.threshold is not None else self.model.label_thresholds()
        writer = OutputFormat(self.model.labels, "jsonl", (), query.top_k, limits)
        out = io.StringIO()
        writer.write(out, [(text, {}) for text in query.texts], probs)
        records = [json.loads(line) for line in out.getvalue().splitlines()]
        for record in records:
            del record["text"]
        return {"predictions": records}


def build_server(
    checkpoint: str,
    *,
    max_batch_size: int = 8,
    batch_timeout: float = 0.005,
    workers_per_device: int = 1,
    threads: int | None = None,
    accelerator: str = "auto",
    timeout: float = 30.0,
) -> ls.LitServer:
    """A LitServer for ``checkpoint`` (checked here, once, before any worker starts).

    Raises:
        TextclfError: an unreadable checkpoint (see :func:`textclf.checkpoint.load_model`), an option out of range,
            a model with a context head (a request's texts have no groups).
    """
    from textclf.model import TextClassifier

    for name, value in (("max_batch_size", max_batch_size), ("workers_per_device", workers_per_device)):
        if value < 1:
            raise TextclfError(f"--{name} must be at least 1, got {value}")
    if not (math.isfinite(batch_timeout) and 0 <= batch_timeout < timeout):
        raise TextclfError(f"--batch_timeout must be from 0 to under {timeout:g} seconds, got {batch_timeout}")
    model = TextClassifier.load_from_checkpoint(checkpoint, map_location="cpu")
    refuse_context_head(model, str(checkpoint), "but a request's texts have no groups, so it cannot be served; "
                        "predict with textclf predict --group-column, or --online for texts as they come")  # fmt: skip
    num_labels = len(model.labels)
    api = TextclfAPI(checkpoint, threads, max_batch_size, batch_timeout)
    return ls.LitServer(
        api,
        accelerator=accelerator,
        workers_per_device=workers_per_device,
        timeout=timeout,
        middlewares=[(RequestCheck, {"path": api.api_path, "num_labels": num_labels})],
        model_metadata={"checkpoint": checkpoint},
    )


def serve(checkpoint: str, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Serve ``checkpoint`` on ``host:port`` until Ctrl-C or SIGTERM; ``options`` go to :func:`build_server`.

    Raises:
        TextclfError: see :func:`build_server`.
    """
    server = build_server(checkpoint, **options)

    main = os.getpid()

    def stop(signum: int, frame: Any) -> None:  # SIGTERM: LitServe's own shutdown, which ends its worker processes
        if os.getpid() == main:
            raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked HTTP process: die as without this handler
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    log.info("serving %s on http://%s:%d/predict (health: /health)", checkpoint, host, port)
    server.run(host=host, port=port, generate_client_file=False, log_level="warning")
