"""IntentRanker: a small causal Transformer over encoded, left-padded events.

Input ``[B, L, F]`` int64 (``service.model.encoding.FEATURES``, id 0 = padding in every feature).

The next item comes from three sources mixed by a learned gate (RepeatNet's idea, Ren et
al. 2019, widened by one source): the *generated* softmax over the vocabulary; a *copy*
distribution over the items in the visitor's own history, since real visitors come back to
what they looked at; and *co-visitation*, the items that followed the history's items in
training sessions, which a sparse catalogue needs because its embeddings learn little. The
co-visitation table is computed at training time and travels in the graph as a buffer.

A category head reads the same state, detached so that it changes nothing else the model
learns: it ranks catalogue items the model has never seen (``service.decision.newcomers``).

Intent and outcome heads read the sequence state beside the prefix's count features
(``layers.wide_features``). Their logits are scaled by temperatures (and the intent's
shifted by a bias per class) fitted on the validation split (``training.model.calibration``),
in the graph.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from service.model import encoding
from training.model.layers import (
    ITEM,
    WIDE_FEATURES,
    Block,
    allowed_keys,
    distances,
    wide_features,
)

SOURCES = ("generated", "copy", "covisit")
COPY, COVISIT = 0, 1  # pointer heads


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
    # Co-visitation neighbours kept per item (training.model.covisit); 0 ships none.
    neighbours: int = 0

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


class Pointer(nn.Module):
    """Two attention heads from a query state to the history's events: one says which of
    them to copy, the other whose co-visited items to follow. A learned bias per distance
    lets recency count; keys are the events' own embeddings, which every position has."""

    def __init__(self, d_model: int, max_len: int) -> None:
        super().__init__()
        self.query = nn.Linear(d_model, 2 * d_model)
        self.key = nn.Linear(d_model, 2 * d_model)
        # Starting at a recency prior (an event d steps back weighs 1 / (1 + d)^2), close to
        # how the "recent items" baseline ranks: training moves from there, not from
        # indifference. On one seed JData's MRR@20 went 0.865 (no prior) -> 0.874 (1 / (1 + d))
        # -> 0.876; REES46's and DIGINETICA's Recall@20 held or rose.
        prior = -2.0 * torch.log1p(torch.arange(max_len, dtype=torch.float32))
        self.by_distance = nn.Parameter(prior.expand(2, max_len).clone())
        self.max_len = max_len

    def forward(self, state: Tensor, events_embedded: Tensor, items: Tensor) -> Tensor:
        """``[B, 2, Q, L]`` weights of the last Q positions over the L keys; a query whose
        history holds no known item gets all-zero weights."""
        batch, queries, d_model = state.shape
        length = events_embedded.shape[1]
        q = self.query(state).reshape(batch, queries, 2, d_model).transpose(1, 2)
        k = self.key(events_embedded).reshape(batch, length, 2, d_model).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(d_model)
        gaps = distances(queries, length, state.device).clamp(max=self.max_len - 1)
        scores = scores + self.by_distance[:, gaps].unsqueeze(0)
        keys = torch.arange(length, device=state.device)
        causal = keys.unsqueeze(0) <= keys[length - queries :].unsqueeze(1)
        usable = causal.unsqueeze(0) & (items >= encoding.FIRST_ID).unsqueeze(1)
        # A large negative, not -inf: a query without a usable key must not give NaN.
        scores = scores.masked_fill(~usable.unsqueeze(1), -1e9)
        weights: Tensor = torch.softmax(scores, dim=-1) * usable.unsqueeze(1)
        return weights


class IntentRanker(nn.Module):
    item_mask: Tensor
    category_mask: Tensor
    covisit_items: Tensor
    covisit_weights: Tensor
    temperatures: Tensor
    intent_bias: Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.top_k > config.item_vocab_size - encoding.FIRST_ID:
            raise ValueError(f"top_k {config.top_k} exceeds the {config.item_vocab_size} items")
        self.config = config
        d = config.d_model
        self.embeddings = nn.ModuleList(
            nn.Embedding(size, d, padding_idx=encoding.PAD) for size in feature_sizes(config)
        )
        self.blocks = nn.ModuleList(
            Block(d, config.n_heads, config.dropout) for _ in range(config.n_layers)
        )
        self.ln_final = nn.LayerNorm(d)
        self.drop = nn.Dropout(config.dropout)
        self.intent_head = nn.Linear(d, len(encoding.INTENTS))
        self.intent_wide = nn.Linear(WIDE_FEATURES, len(encoding.INTENTS))
        # Two outcome heads, P(buy | no incentive) and P(buy | incentive), trained T-learner
        # style on logged treatment; a hidden layer lets them differ where intent does not.
        self.outcome_head = nn.Sequential(
            nn.Linear(d + WIDE_FEATURES, d), nn.GELU(), nn.Linear(d, 2)
        )
        self.category_head = nn.Linear(d, config.category_vocab_size)
        self.item_proj = nn.Linear(d, d)
        self.item_bias = nn.Parameter(torch.zeros(config.item_vocab_size))
        self.pointer = Pointer(d, config.max_len)
        self.gate = nn.Linear(d + WIDE_FEATURES, len(SOURCES))
        # Padding and "unknown" are never recommended.
        item_mask = torch.zeros(config.item_vocab_size)
        item_mask[: encoding.FIRST_ID] = float("-inf")
        self.register_buffer("item_mask", item_mask, persistent=False)
        # Large, not infinite: data without categories has no other class, and a softmax of
        # only -inf is NaN (whose gradient, through the norm clipping, would reach every
        # weight); -1e4 stays finite in half precision too.
        category_mask = torch.zeros(config.category_vocab_size)
        category_mask[: encoding.FIRST_ID] = -1e4
        self.register_buffer("category_mask", category_mask, persistent=False)
        width = max(1, config.neighbours)
        self.register_buffer(
            "covisit_items", torch.zeros(config.item_vocab_size, width, dtype=torch.int64)
        )
        self.register_buffer("covisit_weights", torch.zeros(config.item_vocab_size, width))
        self.register_buffer("temperatures", torch.ones(2))  # intent, outcome
        self.register_buffer("intent_bias", torch.zeros(len(encoding.INTENTS)))

    def embed(self, events: Tensor, item_vectors: Tensor | None = None) -> Tensor:
        """``item_vectors [B, L, d]``: the items' embeddings looked up already (the retrieval
        encoder takes them from the service's shared table, not from the graph)."""
        x = self.embeddings[0](events[..., 0]) if item_vectors is None else item_vectors
        for i in range(1, len(self.embeddings)):
            x = x + self.embeddings[i](events[..., i])
        embedded: Tensor = x
        return embedded

    def encode(
        self, events: Tensor, queries: int = 1, item_vectors: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(state [B, queries, d], embedded events [B, L, d])``: the hidden state of the
        last ``queries`` positions. Serving asks for the last one only, so the last block
        computes nothing else (its keys and values still come from every position)."""
        embedded = self.embed(events, item_vectors)
        allowed = allowed_keys(events)
        x = embedded
        for block in self.blocks[:-1]:
            x = block(x, allowed)
        state: Tensor = self.ln_final(self.blocks[-1](x, allowed[:, -queries:]))
        return state, embedded

    def item_table(self) -> Tensor:
        """``[V, d]`` item embeddings, the input's and the output's (tied)."""
        table: nn.Embedding = self.embeddings[ITEM]  # type: ignore[assignment]
        return table.weight

    def generated_logits(self, state: Tensor) -> Tensor:
        logits: Tensor = self.item_proj(state) @ self.item_table().T + self.item_bias
        return logits + self.item_mask

    def intent_logits(self, state: Tensor, wide: Tensor) -> Tensor:
        logits: Tensor = self.intent_head(self.drop(state)) + self.intent_wide(wide)
        return logits / self.temperatures[0] + self.intent_bias

    def category_logits(self, state: Tensor) -> Tensor:
        """The next item's category; learnt from a detached state, beside the rest."""
        logits: Tensor = self.category_head(state.detach())
        return logits + self.category_mask

    def outcome_logits(self, state: Tensor, wide: Tensor) -> Tensor:
        logits: Tensor = self.outcome_head(torch.cat([self.drop(state), wide], dim=-1))
        return logits / self.temperatures[1]

    def gates(self, state: Tensor, wide: Tensor) -> Tensor:
        """Log weights of ``SOURCES``."""
        return torch.log_softmax(self.gate(torch.cat([state, wide], dim=-1)), dim=-1)

    def item_scores(
        self, state: Tensor, embedded: Tensor, events: Tensor, wide: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``(scores [B, V], total [B, 1])``: next-item probabilities of the last position,
        the three sources mixed, are ``scores / total``.

        A source without mass for this visitor (no known item in the history, no neighbour)
        gives its share back: the mixture is divided by the mass it holds. The division is
        left to the top items, and both pointer sources go into the generated distribution
        in one scatter: at 20,000 items each pass over ``[B, V]`` costs about as much as
        the model's attention."""
        items = events[..., ITEM]
        pointing = self.pointer(state.unsqueeze(1), embedded, items)[:, :, 0]
        gate = torch.exp(self.gates(state, wide))
        copied = pointing[:, COPY] * gate[:, 1:2]
        neighbours = self.covisit_items[items].flatten(1)
        followed = self.covisit_weights[items] * pointing[:, COVISIT].unsqueeze(-1)
        followed = followed.flatten(1) * gate[:, 2:]
        generated = torch.softmax(self.generated_logits(state), dim=-1) * gate[:, :1]
        scores = generated.scatter_add(
            1, torch.cat([items, neighbours], dim=1), torch.cat([copied, followed], dim=1)
        )
        total = gate[:, :1] + copied.sum(-1, keepdim=True) + followed.sum(-1, keepdim=True)
        return scores, total

    def all_positions(
        self,
        events: Tensor,
        targets: Tensor,
        candidates: Tensor | None = None,
        items: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """What the training loss reads, at every position (``training.model.loss``).

        ``log_generated``: the generated log probability of each next item (the positions
        where ``targets`` is a real item, in row order), over every item or, given
        ``candidates [2, S]`` (ids, log inclusion chance), over those (a sampled softmax).
        ``items``: the history's items as the pointer sources see them (by default the
        input's; training hides some from the encoder only)."""
        state, embedded = self.encode(events, queries=events.shape[1])
        wide = wide_features(events)
        seen = events[..., ITEM] if items is None else items
        valid = targets >= encoding.FIRST_ID
        hidden, wanted = state[valid], targets[valid]
        if candidates is None:
            logits = self.generated_logits(hidden)
            column = wanted
        else:
            ids = candidates[0].to(torch.int64)
            table = self.item_table()[ids]
            logits = self.item_proj(hidden) @ table.T + self.item_bias[ids] - candidates[1]
            column = torch.searchsorted(ids, wanted)
        log_generated = torch.log_softmax(logits, dim=-1).gather(1, column.unsqueeze(1))
        return {
            "intent": self.intent_logits(state, wide),
            "outcome": self.outcome_logits(state, wide),
            "pointing": self.pointer(state, embedded, seen),
            "gates": self.gates(state, wide),
            "category": self.category_logits(state),
            "log_generated": log_generated.squeeze(1),
        }

    def forward(self, events: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``(intent_probs [B, 4], top_scores [B, K], top_items [B, K] int64, uplift [B],
        category_probs [B, C])``, uplift = P(buy | incentive) - P(buy | no incentive),
        category_probs over the category ids, of the next item's category."""
        state, embedded = self.encode(events)
        state = state[:, -1]
        wide = wide_features(events)[:, -1]
        scores, total = self.item_scores(state, embedded, events, wide)
        top_scores, top_items = torch.topk(scores, self.config.top_k, dim=-1)
        top_scores = top_scores / total
        outcome = torch.sigmoid(self.outcome_logits(state, wide))
        uplift = outcome[:, 1] - outcome[:, 0]
        intent = torch.softmax(self.intent_logits(state, wide), dim=-1)
        categories = torch.softmax(self.category_logits(state), dim=-1)
        return intent, top_scores, top_items, uplift, categories


def build_model(config: dict[str, Any] | ModelConfig) -> IntentRanker:
    return IntentRanker(config if isinstance(config, ModelConfig) else ModelConfig(**config))
