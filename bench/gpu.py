"""The GPU's utilisation while a load runs, from ``nvidia-smi``'s own sampling loop.

nvidia-smi comes with the driver, so it is there wherever a GPU is; pynvml may not be.
Without it the reading is ``None`` and the report says "no GPU".
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
from types import TracebackType
from typing import Any

INTERVAL_MS = 200
QUERY = "utilization.gpu,memory.used"


def parse(lines: list[str]) -> dict[str, float] | None:
    """Mean and peak utilisation (%) and the peak memory used (MiB) over the samples of
    every GPU, from ``--format=csv,noheader,nounits`` lines."""
    samples = []
    for line in lines:
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 2 and all(f.replace(".", "", 1).isdigit() for f in fields):
            samples.append((float(fields[0]), float(fields[1])))
    if not samples:
        return None
    busy = [s[0] for s in samples]
    return {
        "mean_pct": statistics.fmean(busy),
        "max_pct": max(busy),
        "memory_mib": max(s[1] for s in samples),
        "samples": len(samples),
    }


class Sampler:
    """``with Sampler() as gpu: ...`` then ``gpu.reading``: None without nvidia-smi."""

    def __init__(self) -> None:
        self.reading: dict[str, float] | None = None
        self._smi: subprocess.Popen[str] | None = None

    def __enter__(self) -> Sampler:
        smi = shutil.which("nvidia-smi")
        if smi is not None:
            command = [smi, f"--query-gpu={QUERY}", "--format=csv,noheader,nounits",
                       f"-lms={INTERVAL_MS}"]  # fmt: skip
            self._smi = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._smi is None:
            return
        self._smi.terminate()
        out, _ = self._smi.communicate(timeout=10)
        self.reading = parse(out.splitlines())


def describe(reading: dict[str, Any] | None) -> str:
    if reading is None:
        return "no GPU"
    return f"{reading['mean_pct']:.0f}% (peak {reading['max_pct']:.0f}%)"
