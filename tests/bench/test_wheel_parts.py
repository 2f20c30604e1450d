"""The GPU host's carried wheel, in parts and back, and the script that refuses a host
without a GPU before it installs anything."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from bench.wheel_parts import requirements
from tests._support.stack import ROOT

WHEEL = "onnxruntime_gpu-1.0.0-cp312-cp312-manylinux_2_28_x86_64.whl"


def _parts(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.wheel_parts", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_a_wheel_split_into_parts_joins_back_byte_for_byte(tmp_path: Path) -> None:
    wheel = tmp_path / WHEEL
    wheel.write_bytes(os.urandom(2_500_000))
    split = _parts("split", str(wheel), str(tmp_path / "parts"), "--part-bytes", "1000000")
    assert split.returncode == 0, split.stderr
    parts = sorted((tmp_path / "parts").glob(f"{WHEEL}.part-*"))
    assert [p.name[-2:] for p in parts] == ["00", "01", "02"]
    assert [p.stat().st_size for p in parts] == [1_000_000, 1_000_000, 500_000]
    joined = _parts("join", str(tmp_path / "parts"), str(tmp_path / "joined"))
    assert joined.returncode == 0, joined.stderr
    assert joined.stdout.strip() == str(tmp_path / "joined" / WHEEL)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert hashlib.sha256((tmp_path / "joined" / WHEEL).read_bytes()).hexdigest() == digest


def test_a_damaged_part_is_refused_against_the_wheels_checksum(tmp_path: Path) -> None:
    wheel = tmp_path / WHEEL
    wheel.write_bytes(os.urandom(300_000))
    assert _parts("split", str(wheel), str(tmp_path), "--part-bytes", "100000").returncode == 0
    (tmp_path / f"{WHEEL}.part-01").write_bytes(os.urandom(100_000))
    joined = _parts("join", str(tmp_path), str(tmp_path / "joined"))
    assert joined.returncode == 1
    assert f"{WHEEL}: the joined parts do not match {WHEEL}.sha256" in joined.stderr
    assert not (tmp_path / "joined" / WHEEL).exists()


def test_the_gpu_host_installs_the_services_requirements_but_not_the_cpu_onnxruntime() -> None:
    wanted = requirements()
    assert "granian>=2.0" in wanted
    assert "psutil>=5.9" in wanted
    assert not [r for r in wanted if r.startswith("onnxruntime")]


def test_the_gpu_host_script_refuses_a_host_without_a_gpu(tmp_path: Path) -> None:
    # No nvidia-smi on this PATH, as on a host without NVIDIA's driver.
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_host.sh")], cwd=tmp_path, capture_output=True,
        text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "WHEELS": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 3
    assert done.stderr.startswith("bench/gpu_host.sh: no GPU: nvidia-smi is not on PATH")
    # Refused before it joined, installed or wrote anything.
    assert done.stdout == ""
