"""RNNEncoder against the equations of docs/formulation.md, in plain tensor code, one time step at a time."""

import pytest
import torch
from factories import make_encoder

INPUT_SIZE = 4
HIDDEN = 3
LENGTHS = [5, 2, 1, 4]
TOL = {"atol": 1e-6, "rtol": 0.0}


pytestmark = pytest.mark.usefixtures("one_thread")


def lstm_step(x, state, w_ih, w_hh, b_ih, b_hh):
    h, c = state
    w_ii, w_if, w_ig, w_io = w_ih.chunk(4)  # PyTorch gate order: input, forget, candidate, output
    w_hi, w_hf, w_hg, w_ho = w_hh.chunk(4)
    b_ii, b_if, b_ig, b_io = b_ih.chunk(4)
    b_hi, b_hf, b_hg, b_ho = b_hh.chunk(4)
    i = torch.sigmoid(w_ii @ x + b_ii + w_hi @ h + b_hi)
    f = torch.sigmoid(w_if @ x + b_if + w_hf @ h + b_hf)
    g = torch.tanh(w_ig @ x + b_ig + w_hg @ h + b_hg)
    o = torch.sigmoid(w_io @ x + b_io + w_ho @ h + b_ho)
    c = f * c + i * g
    h = o * torch.tanh(c)
    return h, (h, c)


def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    w_ir, w_iz, w_in = w_ih.chunk(3)  # PyTorch gate order: reset, update, candidate
    w_hr, w_hz, w_hn = w_hh.chunk(3)
    b_ir, b_iz, b_in = b_ih.chunk(3)
    b_hr, b_hz, b_hn = b_hh.chunk(3)
    r = torch.sigmoid(w_ir @ x + b_ir + w_hr @ h + b_hr)
    z = torch.sigmoid(w_iz @ x + b_iz + w_hz @ h + b_hz)
    n = torch.tanh(w_in @ x + b_in + r * (w_hn @ h + b_hn))
    h = (1 - z) * n + z * h
    return h, h


def run_direction(cell, rnn, layer, suffix, tokens):
    """States h_1..h_L of one direction of one layer over `tokens` (L, features), from a zero initial state."""
    weights = [getattr(rnn, f"{name}_l{layer}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    zeros = tokens.new_zeros(HIDDEN)
    state = (zeros, zeros) if cell == "lstm" else zeros
    step = lstm_step if cell == "lstm" else gru_step
    outputs = []
    for x in tokens:
        h, state = step(x, state, *weights)
        outputs.append(h)
    return torch.stack(outputs)  # (L, hidden)


def reference_states(encoder, tokens):
    """Top-layer states (L, output_size) of one text's real tokens (L, input_size), per the equations."""
    x = tokens
    for layer in range(encoder.num_layers):
        forward = run_direction(encoder.cell, encoder.rnn, layer, "", x)
        if encoder.bidirectional:
            # The backward direction is the same recurrence over the reversed text, its states put back in order.
            backward = run_direction(encoder.cell, encoder.rnn, layer, "_reverse", x.flip(0)).flip(0)
            x = torch.cat([forward, backward], dim=-1)
        else:
            x = forward
    return x


def make_inputs():
    torch.manual_seed(3)
    embedded = torch.randn(len(LENGTHS), max(LENGTHS) + 1, INPUT_SIZE, dtype=torch.double)  # garbage padding
    return embedded, torch.tensor(LENGTHS)


CASES = [
    (cell, bidirectional, num_layers, implementation)
    for cell in ("lstm", "gru")
    for bidirectional in (False, True)
    for num_layers in (1, 2)
    for implementation in ("packed", "padded")
]
IDS = [f"{c}-{'bi' if b else 'uni'}-{n}layer-{i}" for c, b, n, i in CASES]


@pytest.mark.parametrize(("cell", "bidirectional", "num_layers", "implementation"), CASES, ids=IDS)
@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_pooled_states_match_equations(cell, bidirectional, num_layers, implementation, pooling):
    encoder = make_encoder(INPUT_SIZE, HIDDEN, cell, bidirectional, pooling, implementation, num_layers)
    embedded, lengths = make_inputs()
    with torch.no_grad():
        output = encoder(embedded, lengths)
        for row, length in enumerate(LENGTHS):
            states = reference_states(encoder, embedded[row, :length])  # (L, output_size)
            expected = states.mean(dim=0) if pooling == "mean" else states.amax(dim=0)
            torch.testing.assert_close(output[row], expected, **TOL)


@pytest.mark.parametrize(("cell", "bidirectional", "num_layers", "implementation"), CASES, ids=IDS)
def test_last_pooling_is_final_state_of_each_direction(cell, bidirectional, num_layers, implementation):
    encoder = make_encoder(INPUT_SIZE, HIDDEN, cell, bidirectional, "last", implementation, num_layers)
    embedded, lengths = make_inputs()
    with torch.no_grad():
        output = encoder(embedded, lengths)
        for row, length in enumerate(LENGTHS):
            states = reference_states(encoder, embedded[row, :length])  # (L, output_size)
            h_forward = states[length - 1, :HIDDEN]  # h_T of the forward recurrence
            torch.testing.assert_close(output[row, :HIDDEN], h_forward, **TOL)
            if bidirectional:
                h_backward = states[0, HIDDEN:]  # h_T of the backward recurrence, which ends at the first token
                torch.testing.assert_close(output[row, HIDDEN:], h_backward, **TOL)


def test_attention_pooling_matches_its_formula():
    encoder = make_encoder(INPUT_SIZE, HIDDEN, "lstm", True, "attention", "padded", 1)
    embedded, lengths = make_inputs()
    assert encoder.attention is not None
    w, b = encoder.attention.projection.weight, encoder.attention.projection.bias
    v = encoder.attention.context.weight.squeeze(0)
    with torch.no_grad():
        output = encoder(embedded, lengths)
        for row, length in enumerate(LENGTHS):
            states = reference_states(encoder, embedded[row, :length])  # (L, 2 * hidden)
            scores = torch.stack([v @ torch.tanh(w @ h + b) for h in states])  # (L,)
            expected = torch.softmax(scores, dim=0) @ states
            torch.testing.assert_close(output[row], expected, **TOL)
