"""The tiny models that tests of export share across the run (tests/_support/tiny_model.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._support import tiny_model


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_model.tiny_checkpoints(tiny_model.run_root(tmp_path_factory))


@pytest.fixture(scope="session")
def tiny_artefact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model.tiny_artefact(tiny_model.run_root(tmp_path_factory))
