import pytest
import torch

from textclf.pooling import AttentionPooling, last_pool, lengths_to_mask, max_pool, mean_pool

# Two texts of lengths 3 and 1, hidden size 2; the padding holds large values that must never leak into a result.
STATES = torch.tensor(
    [
        [[1.0, -2.0], [3.0, 4.0], [5.0, -6.0], [100.0, 100.0]],
        [[-1.0, 7.0], [100.0, 100.0], [100.0, 100.0], [100.0, 100.0]],
    ]
)  # (batch=2, seq=4, hidden=2)
LENGTHS = torch.tensor([3, 1])
MASK = torch.tensor([[True, True, True, False], [True, False, False, False]])


def test_lengths_to_mask():
    assert torch.equal(lengths_to_mask(LENGTHS, 4), MASK)
    assert lengths_to_mask(torch.tensor([2]), 2).tolist() == [[True, True]]


def test_mean_pool_ignores_padding():
    expected = torch.tensor([[3.0, -4.0 / 3.0], [-1.0, 7.0]])
    torch.testing.assert_close(mean_pool(STATES, MASK), expected)


def test_max_pool_ignores_padding():
    assert torch.equal(max_pool(STATES, MASK), torch.tensor([[5.0, 4.0], [-1.0, 7.0]]))


def test_max_pool_all_negative_values_beat_padding():
    states = torch.full((1, 3, 2), -1e30)
    states[0, 2] = 1e30  # padding
    assert torch.equal(max_pool(states, torch.tensor([[True, True, False]])), torch.full((1, 2), -1e30))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_max_pool_low_precision(dtype):
    states = STATES.to(dtype) - 1000.0
    expected = torch.tensor([[5.0, 4.0], [-1.0, 7.0]]).to(dtype) - 1000.0
    assert torch.equal(max_pool(states, MASK), expected)


def test_last_pool_takes_state_at_length_minus_one():
    assert torch.equal(last_pool(STATES, LENGTHS), torch.tensor([[5.0, -6.0], [-1.0, 7.0]]))


def test_pooling_gradients_are_zero_on_padding():
    for pool in (lambda s: mean_pool(s, MASK), lambda s: max_pool(s, MASK), lambda s: last_pool(s, LENGTHS)):
        states = STATES.clone().requires_grad_()
        pool(states).sum().backward()
        assert states.grad is not None
        assert torch.all(states.grad[~MASK] == 0)


def test_attention_weights_zero_on_padding_and_sum_to_one():
    torch.manual_seed(0)
    attention = AttentionPooling(2, attention_size=3)
    weights = attention.attention_weights(STATES, MASK)
    assert weights.shape == (2, 4)
    assert torch.all(weights[~MASK] == 0)
    assert torch.all(weights[MASK] > 0)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2))
    assert weights[1, 0] == 1.0


def test_attention_pooling_is_weighted_sum_of_real_states():
    torch.manual_seed(0)
    attention = AttentionPooling(2)
    with torch.no_grad():
        attention.projection.weight.copy_(torch.eye(2))
        attention.projection.bias.zero_()
        attention.context.weight.copy_(torch.tensor([[1.0, 0.0]]))
    # score_t = tanh(h_t[0]); weights = softmax over the 3 real tokens of row 0
    scores = torch.tanh(torch.tensor([1.0, 3.0, 5.0]))
    alpha = torch.softmax(scores, dim=0)
    expected0 = alpha @ STATES[0, :3]
    pooled = attention(STATES, MASK)
    assert pooled.shape == (2, 2)
    torch.testing.assert_close(pooled[0], expected0)
    torch.testing.assert_close(pooled[1], STATES[1, 0])


def test_attention_is_the_only_pooling_with_parameters():
    assert sum(p.numel() for p in AttentionPooling(4).parameters()) == 4 * 4 + 4 + 4
