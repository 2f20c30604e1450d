"""`witryna train` without --out names its checkpoint after its data, never the demo's."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from training.cli import default_out, export_name, register


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


@pytest.mark.parametrize(
    ("argv", "out"),
    [
        (["train"], "build/simulated.pt"),
        (["train", "--data", "../shared/data/rees46/2019-Oct-head.csv"], "build/2019-Oct-head.pt"),
        (["train", "--data", "a/oct.csv", "b/nov.csv", "--format", "rees46"], "build/oct.pt"),
        (["train", "--events", "logs/events.jsonl"], "build/events.pt"),
        (["train", "--events", "e.jsonl", "--out", "build/demo.pt"], "build/demo.pt"),
    ],
)
def test_the_checkpoint_is_named_after_the_data(argv: list[str], out: str) -> None:
    args = parsed(*argv)
    assert (args.out or default_out(args)) == Path(out)


def test_export_names_the_model_after_the_checkpoint_unless_told() -> None:
    assert export_name(parsed("export", "build/rees46.pt")) == "rees46"
    assert export_name(parsed("export", "build/2019-Oct-head.pt")) == "2019-Oct-head"
    assert export_name(parsed("export", "build/rees46.pt", "--name", "demo")) == "demo"
