"""Masked pooling over time: turn per-token states (batch, seq, hidden) into one vector per text.

Every function takes the padding into account explicitly, so a text's pooled vector never depends on how much
padding its batch needed. Lengths are always >= 1: the data layer guarantees that no text is empty (an empty text
would have nothing to pool over), and these functions rely on it instead of checking it on every batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """Boolean mask that is True on real tokens and False on padding.

    Args:
        lengths: (batch,) integer lengths, each in [1, max_len].
        max_len: Number of time steps of the padded batch.

    Returns:
        (batch, max_len) bool tensor on the device of `lengths`.
    """
    positions = torch.arange(max_len, device=lengths.device)  # (seq,)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)  # (batch, seq)


def mean_pool(states: Tensor, mask: Tensor) -> Tensor:
    """Average of the states at real tokens.

    Args:
        states: (batch, seq, hidden) float states.
        mask: (batch, seq) bool, True on real tokens (at least one per row).

    Returns:
        (batch, hidden) mean over the real tokens of each row.
    """
    summed = states.masked_fill(~mask.unsqueeze(-1), 0.0).sum(dim=1)  # (batch, hidden)
    counts = mask.sum(dim=1, keepdim=True).to(states.dtype)  # (batch, 1)
    return summed / counts


def max_pool(states: Tensor, mask: Tensor) -> Tensor:
    """Element-wise maximum over the states at real tokens.

    Padding is filled with the smallest finite value of the dtype before the max, so it never wins and the
    function works unchanged in float16 / bfloat16.

    Args:
        states: (batch, seq, hidden) float states.
        mask: (batch, seq) bool, True on real tokens (at least one per row).

    Returns:
        (batch, hidden) maximum over the real tokens of each row.
    """
    lowest = torch.finfo(states.dtype).min
    return states.masked_fill(~mask.unsqueeze(-1), lowest).amax(dim=1)  # (batch, hidden)


def last_pool(states: Tensor, lengths: Tensor) -> Tensor:
    """State at the last real token of each row (position lengths - 1).

    Args:
        states: (batch, seq, hidden) float states.
        lengths: (batch,) integer lengths, each >= 1, on the device of `states`.

    Returns:
        (batch, hidden) state at index lengths - 1.
    """
    batch, _, hidden = states.shape
    index = (lengths - 1).view(batch, 1, 1).expand(batch, 1, hidden)  # (batch, 1, hidden)
    return states.gather(1, index).squeeze(1)  # (batch, hidden)


class AttentionPooling(nn.Module):
    """Additive attention pooling: a learned weighted average of the states at real tokens.

    score_t = v^T tanh(W h_t + b), alpha = softmax(score) over the real tokens only (padding gets weight exactly
    0), result = sum_t alpha_t h_t. This is the only pooling with parameters.
    """

    def __init__(self, input_size: int, attention_size: int | None = None) -> None:
        """Create the attention parameters.

        Args:
            input_size: Size of each state vector (hidden).
            attention_size: Size of the tanh layer; defaults to `input_size`.
        """
        super().__init__()
        self.input_size = input_size
        self.attention_size = attention_size or input_size
        self.projection = nn.Linear(input_size, self.attention_size)  # W, b
        self.context = nn.Linear(self.attention_size, 1, bias=False)  # v

    def attention_weights(self, states: Tensor, mask: Tensor) -> Tensor:
        """Softmax weights over time, zero on padding and summing to 1 over each row's real tokens.

        Args:
            states: (batch, seq, hidden) float states.
            mask: (batch, seq) bool, True on real tokens (at least one per row).

        Returns:
            (batch, seq) attention weights.
        """
        scores = self.context(torch.tanh(self.projection(states))).squeeze(-1)  # (batch, seq)
        scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=1)  # (batch, seq)

    def forward(self, states: Tensor, mask: Tensor) -> Tensor:
        """Attention-weighted sum of the states.

        Args:
            states: (batch, seq, hidden) float states.
            mask: (batch, seq) bool, True on real tokens (at least one per row).

        Returns:
            (batch, hidden) pooled vectors.
        """
        weights = self.attention_weights(states, mask)  # (batch, seq)
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1)  # (batch, hidden)
