r"""``textclf predict`` on a hostile plain-text file, through the real command in a child process.

The file holds 1 MB lines, a 20 MB line, a lone ``\r``, a ``\r\n`` ending, invalid UTF-8, empty lines and a last
line without a line end. Every output record must carry its input line's number, bad lines are reported by
number, and the child's peak RSS stays far below what the unbounded reader and tokenizer needed.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from factories import FILLER, NEGATIVE, POSITIVE, run_script

from textclf import BagOfEmbeddingsEncoder, TextClassifier, Tokenizer
from textclf.checkpoint import model_config
from textclf.predict import BYTES_PER_TOKEN, DEFAULT_MAX_LENGTH, MAX_TOKENS, predict_files

WORDS = POSITIVE + NEGATIVE + FILLER
MB = 1 << 20
# Runs ``python -m textclf predict ARGS`` as its child and prints the child's exit code, stderr and peak RSS.
RUN_SCRIPT = textwrap.dedent(
    """
    import json, resource, subprocess, sys
    child = subprocess.run([sys.executable, "-m", "textclf", "predict", *sys.argv[1:]], stderr=subprocess.PIPE)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"rc": child.returncode, "stderr": child.stderr.decode(errors="replace"), "peak_mb": peak}))
    """
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small untrained bag-of-embeddings model saved as textclf fit saves it; its tokenizer has no max_length."""
    torch.manual_seed(0)
    model = TextClassifier(
        BagOfEmbeddingsEncoder(),
        vocab=["<pad>", "<unk>", *WORDS],
        labels=["a", "b", "c"],
        embedding_dim=16,
        embedding_mode="random",
    )
    assert model.tokenizer.max_length is None
    path = tmp_path_factory.mktemp("stress") / "model.ckpt"
    torch.save({"textclf": model_config(model), "state_dict": model.state_dict()}, path)
    return path


def words(size: int, offset: int = 0) -> bytes:
    """``size`` bytes of space-separated WORDS (about 6 bytes a token)."""
    pattern = (" ".join(WORDS[offset:] + WORDS[:offset]) + " ").encode()
    return (pattern * (size // len(pattern) + 1))[:size]


def hostile_lines() -> list[bytes]:
    """The lines of the input, without their ``\\n``."""
    lines = [b"good film", b"", b"bad\rfilm", "café good".encode(), b"good \xff\xfe film", b"awful plot\r"]
    for i in range(6):
        lines += [words(MB, i), b"the acting was superb", b""]
    lines += [words(20 * MB), b"dull \x80 movie"]
    lines += [f"{WORDS[i % len(WORDS)]} {'café' if i % 10 else 'film'} {i}".encode() for i in range(300)]
    return [*lines, b"last line without a line end"]


def run_predict(*args: str) -> dict:
    return json.loads(run_script(RUN_SCRIPT, *args).stdout)


def test_hostile_lines_keep_their_ids_and_memory_stays_bounded(checkpoint: Path, tmp_path: Path) -> None:
    lines = hostile_lines()
    source = tmp_path / "hostile.txt"
    source.write_bytes(b"\n".join(lines))
    out = tmp_path / "out.jsonl"
    # --batch-size 8: the unbounded code's last batch is the 8 longest lines padded to the 20 MB one (~4 GB)
    args = ["-o", str(out), "--id-column", "line", "--no-progress", "--batch-size", "8"]
    run = run_predict(str(checkpoint), str(source), *args)
    assert run["rc"] == 0, run["stderr"]

    records = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n")[:-1]]
    assert [r["line"] for r in records] == list(range(1, len(lines) + 1))  # one record per line, ids aligned
    bad = {5, 26}  # b"\xff\xfe", b"\x80": not UTF-8 (its 271 other non-ASCII lines are UTF-8)
    limit = DEFAULT_MAX_LENGTH * BYTES_PER_TOKEN
    for record, raw in zip(records, lines, strict=True):
        if record["line"] in bad:
            assert record["text"] is None and record["label"] is None and record["probs"] is None
            assert f"hostile.txt, line {record['line']}: byte " in record["error"]
            continue
        assert "error" not in record and record["label"] in ("a", "b", "c")
        text = raw.decode().removesuffix("\r")  # a \r\n ending loses its \r; a lone \r stays
        if len(raw) > limit:
            assert text.startswith(record["text"]) and len(record["text"]) == limit
        else:
            assert record["text"] == text
    assert records[2]["text"] == "bad\rfilm" and records[5]["text"] == "awful plot"

    stderr = run["stderr"]
    assert f"hostile.txt, line 5: byte {len(b''.join(lines[:4])) + 4 + 5} is not valid UTF-8" in stderr
    assert "hostile.txt: 2 lines (5, 26) could not be read, written as error records" in stderr
    assert "hostile.txt: 7 lines (7, 10, 13, 16, 19, 22, 25) longer than 640,000 bytes" in stderr
    # Measured: 440 MB; 3.9 GB before lines were cut (each line whole, every token of it kept).
    assert run["peak_mb"] < 1500, f"peak RSS {run['peak_mb']:.0f} MB"


def test_a_huge_checkpoint_max_length_keeps_the_line_bound(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # the checkpoint schema accepts any max_length; 10**12 made the bound 64 TB a line: a 19 MB line was read and
    # tokenised whole (1.4 GB RSS, over 120 s)
    model = TextClassifier(
        BagOfEmbeddingsEncoder(),
        vocab=["<pad>", "<unk>", *WORDS],
        labels=["a", "b"],
        embedding_dim=4,
        embedding_mode="random",
        tokenizer=Tokenizer(max_length=10**12),
    )
    checkpoint = tmp_path / "huge.ckpt"
    torch.save({"textclf": model_config(model), "state_dict": model.state_dict()}, checkpoint)
    limit = MAX_TOKENS * BYTES_PER_TOKEN
    source, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_bytes(words(limit + MB) + b"\ngood film\n")
    with caplog.at_level("WARNING", logger="textclf"):
        predict_files(str(checkpoint), [str(source)], str(out), progress=False)
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert len(first["text"]) == limit and second["text"] == "good film"
    assert f"huge.ckpt: max_length 1,000,000,000,000 is above predict's ceiling: {MAX_TOKENS:,} tokens" in caplog.text
    assert f"in.txt: 1 line (1) longer than {limit:,} bytes" in caplog.text
