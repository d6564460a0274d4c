import itertools
import json
import warnings

import pytest
import torch
from factories import make_encoder

from textclf.encoders import BagOfEmbeddingsEncoder, Encoder, RNNEncoder, reverse_within_length
from textclf.errors import TextclfError

INPUT_SIZE = 6
HIDDEN = 5
LENGTHS = [3, 7, 5, 1]

CELLS = ["lstm", "gru"]
DIRECTIONS = [False, True]
POOLINGS = ["last", "mean", "max", "attention"]
IMPLEMENTATIONS = ["packed", "padded"]
LAYERS = [1, 2]


pytestmark = pytest.mark.usefixtures("one_thread")


ALL = list(itertools.product(CELLS, DIRECTIONS, POOLINGS, IMPLEMENTATIONS, LAYERS))
ALL_IDS = [f"{c}-{'bi' if b else 'uni'}-{p}-{i}-{n}layer" for c, b, p, i, n in ALL]
SHARED = list(itertools.product(CELLS, DIRECTIONS, POOLINGS, LAYERS))
SHARED_IDS = [f"{c}-{'bi' if b else 'uni'}-{p}-{n}layer" for c, b, p, n in SHARED]


def make_batch(lengths, extra_padding=0, seed=1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random embedded texts; the padding holds random garbage too, which must never matter."""
    generator = torch.Generator().manual_seed(seed)
    seq = max(lengths) + extra_padding
    embedded = torch.randn(len(lengths), seq, INPUT_SIZE, generator=generator, dtype=torch.double)
    return embedded, torch.tensor(lengths)


def real_mask(lengths, seq) -> torch.Tensor:
    return torch.arange(seq).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)


@pytest.mark.parametrize(("cell", "bidirectional", "pooling", "implementation", "num_layers"), ALL, ids=ALL_IDS)
def test_output_shape(cell, bidirectional, pooling, implementation, num_layers):
    encoder = make_encoder(INPUT_SIZE, HIDDEN, cell, bidirectional, pooling, implementation, num_layers)
    embedded, lengths = make_batch(LENGTHS)
    output = encoder(embedded, lengths)
    assert encoder.output_size == HIDDEN * (2 if bidirectional else 1)
    assert output.shape == (len(LENGTHS), encoder.output_size)
    assert output.dtype == torch.double


@pytest.mark.parametrize(("cell", "bidirectional", "pooling", "implementation", "num_layers"), ALL, ids=ALL_IDS)
def test_padding_never_changes_a_result(cell, bidirectional, pooling, implementation, num_layers):
    encoder = make_encoder(INPUT_SIZE, HIDDEN, cell, bidirectional, pooling, implementation, num_layers)
    embedded, lengths = make_batch(LENGTHS, extra_padding=3)
    batched = encoder(embedded, lengths)
    trimmed = encoder(embedded[:, : max(LENGTHS)], lengths)  # fewer padding columns
    torch.testing.assert_close(batched, trimmed, atol=1e-5, rtol=0)
    for row, length in enumerate(LENGTHS):
        alone = encoder(embedded[row : row + 1, :length], lengths[row : row + 1])  # no padding at all
        torch.testing.assert_close(batched[row : row + 1], alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("cell", "bidirectional", "pooling", "implementation", "num_layers"), ALL, ids=ALL_IDS)
def test_gradients_reach_real_tokens_only(cell, bidirectional, pooling, implementation, num_layers):
    encoder = make_encoder(INPUT_SIZE, HIDDEN, cell, bidirectional, pooling, implementation, num_layers)
    embedded, lengths = make_batch(LENGTHS, extra_padding=2)
    embedded.requires_grad_()
    encoder(embedded, lengths).sum().backward()
    assert embedded.grad is not None
    mask = real_mask(LENGTHS, embedded.size(1))
    assert torch.all(embedded.grad[~mask] == 0)
    per_token = embedded.grad.abs().sum(dim=-1)  # (batch, seq)
    if pooling == "max":
        # A token can lose every max; the first one feeds every forward state, so it always gets a gradient.
        assert torch.all(per_token[:, 0] > 0)
    else:
        assert torch.all(per_token[mask] > 0)
    assert all(p.grad is not None for p in encoder.parameters())


@pytest.mark.parametrize(("cell", "bidirectional", "pooling", "num_layers"), SHARED, ids=SHARED_IDS)
def test_packed_and_padded_agree(cell, bidirectional, pooling, num_layers):
    # Inter-layer dropout is configured but inactive in eval mode, so the two paths must agree exactly.
    encoder = make_encoder(INPUT_SIZE, HIDDEN, cell, bidirectional, pooling, "packed", num_layers, dropout=0.5)
    embedded, lengths = make_batch(LENGTHS, extra_padding=2)
    results = {}
    for implementation in IMPLEMENTATIONS:
        encoder.implementation = implementation
        encoder.zero_grad()
        inputs = embedded.clone().requires_grad_()
        output = encoder(inputs, lengths)
        (output * torch.linspace(-1, 1, output.numel(), dtype=output.dtype).view_as(output)).sum().backward()
        grads = {name: p.grad.clone() for name, p in encoder.named_parameters()}
        results[implementation] = (output.detach(), inputs.grad, grads)
    (out_a, in_a, params_a), (out_b, in_b, params_b) = results["packed"], results["padded"]
    torch.testing.assert_close(out_a, out_b, atol=1e-5, rtol=0)
    torch.testing.assert_close(in_a, in_b, atol=1e-5, rtol=0)
    for name in params_a:
        torch.testing.assert_close(params_a[name], params_b[name], atol=1e-5, rtol=0, msg=name)


def test_auto_matches_both_implementations_on_cpu():
    encoder = make_encoder(INPUT_SIZE, HIDDEN, "lstm", True, "max", "auto", 1)
    embedded, lengths = make_batch(LENGTHS)
    auto = encoder(embedded, lengths)
    for implementation in IMPLEMENTATIONS:
        encoder.implementation = implementation
        torch.testing.assert_close(encoder(embedded, lengths), auto, atol=1e-10, rtol=0)


@pytest.mark.parametrize(("cell", "expected"), [("lstm", "padded"), ("gru", "packed")])
def test_auto_picks_padded_except_for_gru_on_cpu(cell, expected, monkeypatch):
    encoder = make_encoder(INPUT_SIZE, HIDDEN, cell, True, "max", "auto", 1)
    used = []

    def spy(path):
        method = getattr(encoder, f"_run_{path}")
        return lambda *args: used.append(path) or method(*args)

    for path in IMPLEMENTATIONS:
        monkeypatch.setattr(encoder, f"_run_{path}", spy(path))
    encoder(*make_batch(LENGTHS))
    assert used == [expected]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_dropout_between_layers_is_active_in_training(implementation):
    encoder = make_encoder(INPUT_SIZE, HIDDEN, "lstm", True, "mean", implementation, 2, dropout=0.5)
    embedded, lengths = make_batch(LENGTHS)
    evaluated = encoder(embedded, lengths)
    encoder.train()
    assert not torch.allclose(encoder(embedded, lengths), evaluated)


def test_reverse_within_length():
    x = torch.arange(8.0).view(2, 4, 1)  # rows [0,1,2,3], [4,5,6,7]
    reversed_x = reverse_within_length(x, torch.tensor([3, 1]))
    assert reversed_x.squeeze(-1).tolist() == [[2.0, 1.0, 0.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
    assert torch.equal(reverse_within_length(reversed_x, torch.tensor([3, 1])), x)


def test_weights_live_in_one_standard_rnn_module():
    encoder = make_encoder(INPUT_SIZE, HIDDEN, "lstm", True, "max", "auto", 2)
    assert isinstance(encoder.rnn, torch.nn.LSTM)
    names = set(encoder.state_dict())
    assert {"rnn.weight_ih_l0", "rnn.weight_hh_l1_reverse", "rnn.bias_ih_l1"} <= names
    assert isinstance(make_encoder(INPUT_SIZE, HIDDEN, "gru", False, "max", "auto", 1).rnn, torch.nn.GRU)


@pytest.mark.parametrize("encoder_class", [RNNEncoder, BagOfEmbeddingsEncoder])
def test_build_is_lazy(encoder_class):
    encoder: Encoder = encoder_class()
    assert encoder.input_size is None
    with pytest.raises(TextclfError, match="not built"):
        encoder(torch.randn(2, 3, 8), torch.tensor([3, 2]))
    encoder.build(8)
    encoder.build(8)  # same size again: no-op
    assert encoder.input_size == 8
    assert encoder(torch.randn(2, 3, 8), torch.tensor([3, 2])).shape == (2, encoder.output_size)
    with pytest.raises(TextclfError, match="input_size=8"):
        encoder.build(9)
    with pytest.raises(TextclfError):
        encoder_class().build(0)


def test_bag_output_size_needs_build():
    with pytest.raises(TextclfError):
        _ = BagOfEmbeddingsEncoder().output_size
    assert RNNEncoder(hidden_size=7, bidirectional=True).output_size == 14


@pytest.mark.parametrize(
    "encoder",
    [
        RNNEncoder(INPUT_SIZE, cell="gru", hidden_size=4, num_layers=2, dropout=0.25, pooling="attention"),
        RNNEncoder(INPUT_SIZE, bidirectional=False, pooling="last", implementation="packed"),
        BagOfEmbeddingsEncoder(INPUT_SIZE, pooling="max"),
    ],
    ids=["rnn-attention", "rnn-last", "bag"],
)
def test_config_round_trip(encoder):
    config = json.loads(json.dumps(encoder.config()))
    rebuilt = type(encoder)(**config)
    assert rebuilt.config() == encoder.config()
    rebuilt.load_state_dict(encoder.state_dict())
    embedded, lengths = make_batch(LENGTHS)
    embedded = embedded.float()
    torch.testing.assert_close(rebuilt.eval()(embedded, lengths), encoder.eval()(embedded, lengths))


@pytest.mark.parametrize(
    "kwargs",
    [{"cell": "rnn"}, {"pooling": "sum"}, {"implementation": "cudnn"}, {"hidden_size": 0}, {"dropout": 1.0}],
)
def test_invalid_arguments_raise_textclf_error(kwargs):
    with pytest.raises(TextclfError):
        RNNEncoder(**kwargs)


def test_bag_invalid_pooling():
    with pytest.raises(TextclfError):
        BagOfEmbeddingsEncoder(pooling="attention")  # type: ignore[arg-type]


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_bag_of_embeddings_contract(pooling):
    encoder = BagOfEmbeddingsEncoder(INPUT_SIZE, pooling=pooling)
    assert list(encoder.parameters()) == []
    embedded, lengths = make_batch(LENGTHS, extra_padding=2)
    embedded.requires_grad_()
    output = encoder(embedded, lengths)
    assert output.shape == (len(LENGTHS), INPUT_SIZE) == (len(LENGTHS), encoder.output_size)
    for row, length in enumerate(LENGTHS):
        real = embedded[row, :length].detach()
        expected = real.mean(dim=0) if pooling == "mean" else real.amax(dim=0)
        torch.testing.assert_close(output[row].detach(), expected)
    output.sum().backward()
    mask = real_mask(LENGTHS, embedded.size(1))
    assert torch.all(embedded.grad[~mask] == 0)
    if pooling == "mean":
        assert torch.all(embedded.grad[mask] != 0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(("cell", "bidirectional"), [("lstm", True), ("gru", True), ("lstm", False)])
def test_cuda_padded_matches_packed_without_warnings(cell, bidirectional):
    encoder = make_encoder(INPUT_SIZE, HIDDEN, cell, bidirectional, "max", "auto", 2).cuda()
    embedded, lengths = make_batch(LENGTHS, extra_padding=2)
    embedded = embedded.cuda()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        auto = encoder(embedded, lengths)
        encoder.implementation = "packed"
        packed = encoder(embedded, lengths)
    torch.testing.assert_close(auto, packed, atol=1e-5, rtol=0)
