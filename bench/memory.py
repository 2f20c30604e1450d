"""``witryna bench-memory DIR...``: the memory of `witryna serve` with N workers, per worker
and for the parent, for each model artefact.

A worker's RSS counts every page it touches, shared or not; USS is what it alone holds
(what one more worker costs); PSS divides each shared page among its sharers, so the PSS
of every process adds up to what the service takes of the host. File-backed pages are
what the kernel can share and drop: a memory-mapped index in the artefact folder shows
there, and under "artefact files".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil
from msgspec import structs

from bench import profile as bench_profile
from service.model.manifest import current_artefact, read_manifest, version_folders
from service.settings import Settings

MIB = 1024 * 1024
# The kernel's figures for the whole address space, in kB.
ROLLUP_FIELDS = ("Rss", "Pss", "Anonymous", "Pss_File", "Shared_Clean", "Shared_Dirty")


def model_folders(dirs: list[Path]) -> list[Path]:
    """Each model folder (one holding version folders) among ``dirs`` or directly inside
    them, as `witryna bench-models` writes them."""
    found = []
    for folder in dirs:
        if version_folders(folder):
            found.append(folder)
        else:
            found += sorted(p for p in folder.iterdir() if p.is_dir() and version_folders(p))
    if not found:
        raise FileNotFoundError(f"no model artefact in {', '.join(map(str, dirs))}")
    return found


def rollup(pid: int) -> dict[str, int]:
    """The fields of ``/proc/PID/smaps_rollup`` this report uses, in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, value = line.partition(":")
        if key in ROLLUP_FIELDS:
            found[key] = int(value.split()[0]) * 1024
    return found


def mapped_under(process: psutil.Process, folder: Path) -> dict[str, int]:
    """RSS and PSS of the files under ``folder`` that ``process`` maps."""
    rss = pss = 0
    prefix = f"{folder.resolve()}/"
    for mapping in process.memory_maps(grouped=True):
        if mapping.path.startswith(prefix):
            rss += mapping.rss
            pss += mapping.pss
    return {"rss": rss, "pss": pss}


def reading(pid: int, artefact: Path) -> dict[str, int]:
    """One process's memory, in bytes."""
    process = psutil.Process(pid)
    full = process.memory_full_info()
    kernel = rollup(pid)
    mapped = mapped_under(process, artefact)
    return {
        "pid": pid,
        "rss": full.rss,
        "uss": full.uss,
        "pss": full.pss,
        "shared": full.rss - full.uss,
        "file_backed": kernel["Rss"] - kernel["Anonymous"],
        "artefact_rss": mapped["rss"],
        "artefact_pss": mapped["pss"],
    }


def on_disk(artefact: Path) -> int:
    return sum(p.stat().st_size for p in artefact.rglob("*") if p.is_file())


def settings_for(model: Path) -> tuple[Settings, dict[str, str]]:
    """Settings that serve ``model``, and the environment that tells the server so."""
    base = Settings.from_env()
    env = {"WITRYNA_MODELS_DIR": str(model.parent), "WITRYNA_MODEL_NAME": model.name}
    return structs.replace(base, models_dir=env["WITRYNA_MODELS_DIR"], model_name=model.name), env


def measure(url: str, artefact: Path) -> dict[str, Any]:
    """The parent and each worker of the server at ``url``."""
    parent = bench_profile.server_pid(int(url.rsplit(":", 1)[1]))
    if parent is None:
        raise RuntimeError(f"no `witryna serve` for {url} on this host")
    workers = [reading(pid, artefact) for pid in bench_profile.worker_pids(parent)]
    return {"parent": reading(parent, artefact), "workers": workers}


def summary(model: Path, workers: int, processes: dict[str, Any]) -> dict[str, Any]:
    artefact = current_artefact(model.parent, model.name)
    manifest = read_manifest(artefact)
    every = [processes["parent"], *processes["workers"]]
    return {
        "model": model.name,
        "version": artefact.name,
        "items": len(manifest.items),
        "artefact_bytes": on_disk(artefact),
        "workers_asked": workers,
        **processes,
        "total_pss": sum(p["pss"] for p in every),
        "total_rss": sum(p["rss"] for p in every),
    }
