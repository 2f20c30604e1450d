"""IntentRanker: a small causal Transformer over encoded, left-padded events.

Input ``[B, L, F]`` int64 (``service.model.encoding.FEATURES``, id 0 = padding in every feature).
Attention is written out by hand (matmul + softmax) so that the ONNX graph is plain ops.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from service.model import encoding

ITEM, TYPE, CATEGORY, CHANNEL, GAP, HOUR, WEEKDAY = range(len(encoding.FEATURES))


@dataclass(frozen=True)
class ModelConfig:
    item_vocab_size: int
    category_vocab_size: int
    max_len: int = 50
    top_k: int = 20
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def feature_sizes(config: ModelConfig) -> tuple[int, ...]:
    """Embedding table size per feature, in ``FEATURES`` order."""
    return (
        config.item_vocab_size,
        len(encoding.EVENT_TYPES) + 1,
        config.category_vocab_size,
        len(encoding.CHANNELS) + 1,
        encoding.GAP_BUCKETS,
        encoding.HOUR_BUCKETS,
        encoding.WEEKDAY_BUCKETS,
    )


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, allowed: Tensor) -> Tensor:
        """The last ``allowed.shape[1]`` positions of ``x`` attending over all of it."""
        batch, length, d_model = x.shape
        queries = allowed.shape[1]
        head = d_model // self.n_heads
        q, k, v = self.qkv(x).split(d_model, dim=-1)
        q = q[:, -queries:].reshape(batch, queries, self.n_heads, head).transpose(1, 2)
        k, v = (t.reshape(batch, length, self.n_heads, head).transpose(1, 2) for t in (k, v))
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(head)
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


class IntentRanker(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.top_k > config.item_vocab_size - encoding.FIRST_ID:
            raise ValueError(f"top_k {config.top_k} exceeds the {config.item_vocab_size} items")
        self.config = config
        d = config.d_model
        self.embeddings = nn.ModuleList(
            nn.Embedding(size, d, padding_idx=encoding.PAD) for size in feature_sizes(config)
        )
        self.recency = nn.Embedding(config.max_len, d)
        self.blocks = nn.ModuleList(
            Block(d, config.n_heads, config.dropout) for _ in range(config.n_layers)
        )
        self.ln_final = nn.LayerNorm(d)
        self.intent_head = nn.Linear(d, len(encoding.INTENTS))
        # Two outcome heads, P(buy | no incentive) and P(buy | incentive), trained T-learner
        # style on logged treatment; a hidden layer lets them differ where intent does not.
        self.outcome_head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 2))
        self.item_proj = nn.Linear(d, d)
        self.item_bias = nn.Parameter(torch.zeros(config.item_vocab_size))
        # Padding and "unknown" are never recommended.
        item_mask = torch.zeros(config.item_vocab_size)
        item_mask[: encoding.FIRST_ID] = float("-inf")
        self.register_buffer("item_mask", item_mask, persistent=False)

    def encode(self, events: Tensor) -> Tensor:
        """Hidden state of the last position ``[B, d_model]``; that position is always real."""
        length = events.shape[1]
        x = self.embeddings[0](events[..., 0])
        for i in range(1, len(self.embeddings)):
            x = x + self.embeddings[i](events[..., i])
        # Rows are left-padded, so the distance from the right end is what aligns them.
        recency = torch.arange(length - 1, -1, -1, device=events.device)
        x = x + self.recency(recency.clamp(max=self.config.max_len - 1))
        allowed = _allowed(events)
        for block in self.blocks[:-1]:
            x = block(x, allowed)
        # The heads read the last position only, so the last block computes nothing else: its
        # keys and values still come from every position. At 2 layers, about a third less work.
        last: Tensor = self.ln_final(self.blocks[-1](x, allowed[:, -1:])[:, -1])
        return last

    def heads(self, events: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(intent_logits [B, 4], item_logits [B, V], outcome_logits [B, 2])``; items 0 and
        1 at -inf; outcome columns are "no incentive", "incentive" (``training.data.treatment``)."""
        hidden = self.encode(events)
        item_vectors = self.item_proj(hidden)
        item_logits = item_vectors @ self.embeddings[ITEM].weight.T + self.item_bias
        return self.intent_head(hidden), item_logits + self.item_mask, self.outcome_head(hidden)

    def logits(self, events: Tensor) -> tuple[Tensor, Tensor]:
        """``(intent_logits [B, 4], item_logits [B, V])``, items 0 and 1 at -inf."""
        intent_logits, item_logits, _ = self.heads(events)
        return intent_logits, item_logits

    def forward(self, events: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(intent_probs [B, 4], top_scores [B, K], top_items [B, K] int64, uplift [B])``,
        uplift = P(buy | incentive) - P(buy | no incentive)."""
        intent_logits, item_logits, outcome_logits = self.heads(events)
        item_probs = torch.softmax(item_logits, dim=-1)
        top_scores, top_items = torch.topk(item_probs, self.config.top_k, dim=-1)
        outcome = torch.sigmoid(outcome_logits)
        uplift = outcome[:, 1] - outcome[:, 0]
        return torch.softmax(intent_logits, dim=-1), top_scores, top_items, uplift


def _allowed(events: Tensor) -> Tensor:
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


def build_model(config: dict[str, Any] | ModelConfig) -> IntentRanker:
    return IntentRanker(config if isinstance(config, ModelConfig) else ModelConfig(**config))
