"""The README's "Your own model" commands, run as a new user runs them from a checkout:
a model trained on the REES46 sample is evaluated, published under its own name and
rolled back, and the demo model is left as it was."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from service.model.manifest import CURRENT_FILE
from tests._support.stack import MODEL_NAME, MODELS, ROOT

README = ROOT / "README.md"
SECTION = "## Your own model"
SHARED = ROOT.parent / "shared"
CONSOLE = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)
# A version the README names stands for the first one this run exports: the oldest.
VERSION = re.compile(r"\b\d{8}T\d{6}Z\b")
FIRST_VERSION = '"$(ls models/rees46 | grep -v CURRENT | head -n 1)"'
# The README's training runs take a minute or two; one epoch shows the same sequence works.
TRAINING = re.compile(r"^\.venv/bin/witryna (train|evaluate) ")
TEST_EPOCHS = 1
# And on the sample's first rows, a quarter of it: they train and evaluate in a third of the
# time, and what the test checks is the commands, not the model's quality.
SAMPLE = Path("data") / "rees46" / "2019-Oct-head.csv"
SAMPLE_ROWS = 4_000


def readme_commands() -> list[str]:
    """The shell commands (the ``$`` lines) of the section's console block."""
    section = README.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    block = CONSOLE.search(section)
    assert block is not None, f"README.md: no console block under {SECTION!r}"
    return [line[2:] for line in block[1].splitlines() if line.startswith("$ ")]


def for_the_test(command: str, epochs: int | None) -> str:
    """``command`` with its version standing for the first export, and ``--epochs``
    added (the last given wins) before any comment."""
    command = VERSION.sub(FIRST_VERSION, command)
    code, hash_, comment = command.partition(" #")
    if epochs is not None and TRAINING.match(code):
        code = f"{code.rstrip()} --epochs {epochs}"
    return code + hash_ + comment


def shared_head(shared: Path) -> None:
    """``shared`` with the first ``SAMPLE_ROWS`` rows of the REES46 sample, and its header."""
    (shared / SAMPLE).parent.mkdir(parents=True)
    with (SHARED / SAMPLE).open() as full, (shared / SAMPLE).open("w") as head:
        head.writelines(itertools.islice(full, SAMPLE_ROWS + 1))


def checkout(folder: Path) -> Path:
    """A new user's checkout beside ``shared``: the demo model that `make run` published,
    an earlier demo checkpoint, and ``.venv/bin/witryna`` running this tree's code."""
    folder.mkdir()
    shared_head(folder.parent / "shared")
    demo = folder / "models" / MODEL_NAME
    shutil.copytree(MODELS / MODEL_NAME, demo, ignore=shutil.ignore_patterns(".*"))
    (folder / "build").mkdir()
    (folder / "build" / f"{MODEL_NAME}.pt").write_bytes(b"the demo's checkpoint")
    shim = folder / ".venv" / "bin" / "witryna"
    shim.parent.mkdir(parents=True)
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m service "$@"\n')
    shim.chmod(0o755)
    return folder


def run_readme(folder: Path, epochs: int | None) -> subprocess.CompletedProcess[str]:
    script = "\n".join(
        ["set -euxo pipefail", *(for_the_test(c, epochs) for c in readme_commands())]
    )
    return subprocess.run(
        ["bash", "-c", script], cwd=folder, env=user_env(), capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip


def user_env() -> dict[str, str]:
    """No WITRYNA_* setting, as in a new user's shell; this tree's code on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WITRYNA_")}
    return {**env, "PYTHONPATH": str(ROOT)}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_commands_are_the_readmes() -> None:
    commands = readme_commands()
    assert len(commands) >= 8
    assert commands[0] == f"data=../shared/{SAMPLE}"  # the file shared_head cuts
    assert any(c.startswith(".venv/bin/witryna models --name rees46") for c in commands)
    rollback = commands[-1]
    assert rollback.startswith(".venv/bin/witryna publish --name rees46 ")
    assert FIRST_VERSION in for_the_test(rollback, TEST_EPOCHS)
    trained = for_the_test(commands[1], TEST_EPOCHS)
    assert trained.endswith(f"--epochs {TEST_EPOCHS}")
    assert "MODEL_NAME" not in " ".join(commands)
    assert all("--name demo" not in c and "models/demo" not in c for c in commands)


@pytest.mark.slow
def test_a_new_user_trains_publishes_and_rolls_back_without_touching_the_demo(
    tmp_path: Path, artefact: Path
) -> None:
    if not (SHARED / SAMPLE).is_file():
        pytest.skip(f"the REES46 sample is absent ({SHARED}/data lives beside the checkout)")
    folder = checkout(tmp_path / "witryna")
    demo_before = snapshot(folder / "models" / MODEL_NAME)
    checkpoint_before = (folder / "build" / f"{MODEL_NAME}.pt").read_bytes()

    ran = run_readme(folder, TEST_EPOCHS)
    assert ran.returncode == 0, ran.stderr[-4000:]

    assert snapshot(folder / "models" / MODEL_NAME) == demo_before
    assert (folder / "build" / f"{MODEL_NAME}.pt").read_bytes() == checkpoint_before
    assert (folder / "build" / "reports" / "rees46" / "report.md").is_file()
    versions = sorted(p.name for p in (folder / "models" / "rees46").iterdir() if p.is_dir())
    assert len(versions) == 2
    assert (folder / "models" / "rees46" / CURRENT_FILE).read_text().strip() == versions[0]
    assert f"published rees46/{versions[1]}" in ran.stdout
    rollback = f"published rees46/{versions[0]} (models/rees46/{versions[0]})"
    assert ran.stdout.splitlines()[-1] == rollback
    listed = subprocess.run(
        [".venv/bin/witryna", "models", "--name", "rees46", "--json"],
        cwd=folder, env=user_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    served = [msgspec.json.decode(line)["served"] for line in listed.stdout.splitlines()]
    assert served == [True, False], listed.stderr
