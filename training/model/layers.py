"""The Transformer's parts: causal self-attention with a recency bias (ALiBi), pre-LN blocks,
and the count features that enter the intent heads beside the sequence state.

Attention is written out by hand (matmul + softmax) so that the ONNX graph is plain ops.
Positions are told apart by a bias on the distance between query and key (Press et al.,
"Train Short, Test Long", 2022), not by an embedding of the absolute position: a prefix
reads the same whether it is the whole input (serving) or the front of a longer window
(training, where every position is a target).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from service.model import encoding

ITEM, TYPE, CATEGORY, CHANNEL, GAP, HOUR, WEEKDAY = range(len(encoding.FEATURES))
N_TYPES = len(encoding.EVENT_TYPES)
# Per event type: log count so far and "is the latest"; then log length, log distinct items,
# log seconds since the first event, log seconds since the one before.
WIDE_FEATURES = 2 * N_TYPES + 4


def alibi_slopes(n_heads: int) -> Tensor:
    """Geometric slopes 2^(-8/n), 2^(-16/n), ...: each head its own reach into the past."""
    return torch.tensor([2.0 ** (-8.0 * (h + 1) / n_heads) for h in range(n_heads)])


def distances(queries: int, length: int, device: torch.device) -> Tensor:
    """``[queries, length]``: how far key j lies behind query i, for the last ``queries``."""
    keys = torch.arange(length, device=device)
    rows = keys[length - queries :]
    return (rows.unsqueeze(1) - keys.unsqueeze(0)).clamp(min=0)


class CausalSelfAttention(nn.Module):
    slopes: Tensor

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)
        self.register_buffer("slopes", alibi_slopes(n_heads), persistent=False)

    def forward(self, x: Tensor, allowed: Tensor) -> Tensor:
        """The last ``allowed.shape[1]`` positions of ``x`` attending over all of it."""
        batch, length, d_model = x.shape
        queries = allowed.shape[1]
        head = d_model // self.n_heads
        q, k, v = self.qkv(x).split(d_model, dim=-1)
        q = q[:, -queries:].reshape(batch, queries, self.n_heads, head).transpose(1, 2)
        k, v = (t.reshape(batch, length, self.n_heads, head).transpose(1, 2) for t in (k, v))
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(head)
        bias = distances(queries, length, x.device).to(x.dtype)
        scores = scores - self.slopes.view(1, -1, 1, 1) * bias
        scores = scores.masked_fill(~allowed.unsqueeze(1), float("-inf"))
        weights = self.drop(torch.softmax(scores, dim=-1))
        mixed = torch.matmul(weights, v).transpose(1, 2).reshape(batch, queries, d_model)
        out: Tensor = self.out(mixed)
        return out


class Block(nn.Module):
    """Pre-LN: normalise, transform, add back."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model),
            nn.GELU(),
            nn.Linear(4 * d_model, d_model),
            nn.Dropout(dropout),
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, allowed: Tensor) -> Tensor:
        """Every position, or with ``allowed`` cut to its last rows only those positions."""
        x = x[:, -allowed.shape[1] :] + self.drop(self.attn(self.ln1(x), allowed))
        mixed: Tensor = x + self.mlp(self.ln2(x))
        return mixed


def allowed_keys(events: Tensor) -> Tensor:
    """``[B, L, L]``: query i may read key j when j <= i and j is real, and always itself.

    Without the diagonal an all-padding query row would be all -inf, softmax would give NaN
    and 0 * NaN would leak it into real rows through the next layer's matmul.
    """
    length = events.shape[1]
    real = events[..., TYPE] != encoding.PAD
    positions = torch.arange(length, device=events.device)
    causal = positions.unsqueeze(0) <= positions.unsqueeze(1)
    itself = positions.unsqueeze(0) == positions.unsqueeze(1)
    return (causal.unsqueeze(0) & real.unsqueeze(1)) | itself.unsqueeze(0)


def wide_features(events: Tensor) -> Tensor:
    """``[B, L, WIDE_FEATURES]``: what the count-logistic baseline reads, for the prefix that
    ends at each position, so that the intent heads start where counts end.

    Seconds come back from the gap buckets (log2 of the gap), which is all the input holds.
    """
    types = events[..., TYPE]
    real = (types != encoding.PAD).to(torch.float32)
    one_hot = (types.unsqueeze(-1) == torch.arange(1, N_TYPES + 1, device=events.device)).to(
        torch.float32
    )
    counts = torch.cumsum(one_hot, dim=1)
    items = events[..., ITEM]
    same = items.unsqueeze(2) == items.unsqueeze(1)
    length = items.shape[1]
    earlier = torch.tril(torch.ones(length, length, dtype=torch.bool, device=events.device), -1)
    repeated = (same & earlier.unsqueeze(0)).any(dim=-1)
    first_sight = ((items >= encoding.FIRST_ID) & ~repeated).to(torch.float32)
    gaps = events[..., GAP].to(torch.float32)
    gap_seconds = torch.where(gaps >= encoding.FIRST_ID, torch.exp2(gaps - 1.5) - 1.0, 0.0)
    parts = [
        torch.log1p(counts),
        one_hot,
        torch.log1p(torch.cumsum(real, dim=1)).unsqueeze(-1),
        torch.log1p(torch.cumsum(first_sight, dim=1)).unsqueeze(-1),
        torch.log1p(torch.cumsum(gap_seconds, dim=1)).unsqueeze(-1),
        torch.log1p(gap_seconds).unsqueeze(-1),
    ]
    return torch.cat(parts, dim=-1)
