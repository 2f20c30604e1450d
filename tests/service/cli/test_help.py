"""`witryna --help` for its users: every command and every option says what it is for, once."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import version

import pytest

from service.cli.main import build_parser
from service.settings import Settings
from tests._support.stack import ROOT

PARSER = build_parser()
(COMMANDS,) = (a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction))
SUBPARSERS: dict[str, argparse.ArgumentParser] = dict(COMMANDS.choices)


def witryna(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_walk_covers_the_commands_of_every_package() -> None:
    # training/ and bench/ add theirs through the entry point: they are walked too.
    assert {"serve", "publish", "train", "evaluate", "bench-models", "bench"} <= set(SUBPARSERS)


def test_every_command_has_a_help_line() -> None:
    helpless = [a.dest for a in COMMANDS._choices_actions if not (a.help or "").strip()]
    assert not helpless


@pytest.mark.parametrize("name", sorted(SUBPARSERS))
def test_every_option_has_help_that_names_its_default_at_most_once(name: str) -> None:
    parser = SUBPARSERS[name]
    formatter = parser._get_formatter()
    for action in parser._actions:
        # _expand_help is what --help prints: the text with %(default)s filled in, and with
        # what a formatter such as ArgumentDefaultsHelpFormatter adds.
        shown = formatter._expand_help(action) if action.help else ""
        assert shown.strip(), f"{name} {action.option_strings or action.dest}: no help"
        assert shown.count("default") <= 1, f"{name} {action.option_strings}: {shown!r}"


def test_version_comes_from_the_package() -> None:
    result = witryna("--version")
    assert result.returncode == 0
    assert result.stdout == f"witryna {version('witryna')}\n"


def test_top_level_help_is_written_for_users() -> None:
    text = PARSER.format_help()
    assert "entry point" not in text
    assert "witryna serve" in text
    assert "--version" in text


def test_serve_help_points_at_the_settings() -> None:
    text = " ".join(SUBPARSERS["serve"].format_help().split())
    assert f"the {len(Settings.__struct_fields__)} WITRYNA_* environment variables" in text
    assert "docs/operations.md" in text
