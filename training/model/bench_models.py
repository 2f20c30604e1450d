"""`witryna bench-models`: untrained models with large catalogues, for the inference benchmark.

Speed does not depend on what the weights learned, only on the shapes, so a seeded random
model with N items measures what serving an N-item catalogue costs. Each is exported
through the same parity-checked path as a trained model.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from service.model.encoding import FIRST_ID


def checkpoint(items: int, seed: int, history: int = 50) -> dict[str, Any]:
    """A model of ``items`` items reading ``history`` events, with a co-visitation table as
    wide as training would give it (random neighbours: only the shapes cost)."""
    # Torch loads here, not at import: `witryna --help` and serving must not pay for it.
    import torch

    from training.model.checkpoint import CHECKPOINT_FORMAT
    from training.model.intent_ranker import IntentRanker, ModelConfig
    from training.model.train import neighbours_for

    torch.manual_seed(seed)
    names = [f"sku-{i:07d}" for i in range(items)]
    categories = [f"cat-{i}" for i in range(24)]
    neighbours = neighbours_for(items)
    config = ModelConfig(
        item_vocab_size=items + FIRST_ID,
        category_vocab_size=26,
        max_len=history,
        neighbours=neighbours,
    )
    model = IntentRanker(config)
    with torch.no_grad():
        vocab = items + FIRST_ID
        model.covisit_items.copy_(torch.randint(FIRST_ID, vocab, (vocab, neighbours)))
        model.covisit_weights.copy_(torch.full((vocab, neighbours), 0.5 / neighbours))
    return {
        "format": CHECKPOINT_FORMAT,
        "config": model.config.to_dict(),
        "state_dict": model.state_dict(),
        "items": names,
        "categories": categories,
        "popular_items": names[:50],
        "metrics": {},
        "data_fingerprint": f"random:{items}:{seed}",
        "max_len": model.config.max_len,
        "top_k": model.config.top_k,
    }


def command(args: argparse.Namespace) -> int:
    from training.model.checkpoint import save_checkpoint
    from training.model.export import export

    for history in args.history:
        for items in args.items:
            name = f"items-{items}" + ("" if history == 50 else f"-history-{history}")
            with tempfile.TemporaryDirectory() as tmp:
                saved = checkpoint(items, args.seed, history)
                path = save_checkpoint(saved, Path(tmp) / "model.pt")
                print(export(path, args.out, name))
    return 0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench-models",
        help="export untrained models with large catalogues, for the inference benchmarks",
    )
    parser.add_argument(
        "--items",
        type=int,
        nargs="+",
        default=[20_000, 1_000_000],
        metavar="N",
        help="catalogue sizes, one model each (default 20000 1000000)",
    )
    parser.add_argument(
        "--history",
        type=int,
        nargs="+",
        default=[50],
        metavar="L",
        help="events of history each model reads; a model per size and length "
        "(default 50; named items-N-history-L when not 50)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("build/bench-models"),
        help="models folder: items-N/<version> each (default %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random weights (%(default)s)"
    )
    parser.set_defaults(func=command)
