"""The versions of a model under the models dir, and which one ``CURRENT`` serves."""

from __future__ import annotations

from pathlib import Path

from msgspec import Struct

from service.errors import ModelUnavailable
from service.model.manifest import (
    CURRENT_FILE,
    Manifest,
    current_artefact,
    read_manifest,
    version_folders,
)


class Version(Struct, frozen=True):
    """One version folder: its manifest, or why this service could not serve it."""

    version: str
    manifest: Manifest | None
    problem: str = ""


class Served(Struct, frozen=True):
    """The version services serve (None when none can be), and how they chose it."""

    version: str | None
    why: str


class Overlap(Struct, frozen=True):
    """How many of a model's items a catalogue holds."""

    known: int
    items: int
    catalogue: int

    @property
    def percent(self) -> float:
        return 100.0 * self.known / self.items if self.items else 100.0

    def describe(self, threshold: float) -> str:
        """One line with the numbers, e.g. ``0 of 20,000 model items are in the catalogue
        of 600 items (0%, under --min-overlap 50%)``."""
        return (
            f"{self.known:,} of {self.items:,} model items are in the catalogue of "
            f"{self.catalogue:,} items ({self.percent:.0f}%, under --min-overlap {threshold:g}%)"
        )


def versions(models_dir: Path, name: str) -> list[Version]:
    """Every complete version of ``name``, oldest first (names are UTC timestamps)."""
    found = []
    for folder in version_folders(models_dir / name):
        try:
            found.append(Version(folder.name, read_manifest(folder)))
        except ModelUnavailable as exc:
            found.append(Version(folder.name, None, exc.detail))
    return found


def model_names(models_dir: Path) -> list[str]:
    """The model names under ``models_dir`` that hold at least one version."""
    return sorted(p.name for p in models_dir.glob("*") if p.is_dir() and version_folders(p))


def served(models_dir: Path, name: str) -> Served:
    """What a service started now would serve, by the rule of ``current_artefact``."""
    pointer = models_dir / name / CURRENT_FILE
    try:
        version = current_artefact(models_dir, name).name
    except ModelUnavailable as exc:
        return Served(None, exc.detail)
    if pointer.is_file():
        return Served(version, f"{pointer} names it")
    return Served(version, f"no {pointer}: services serve the newest")
