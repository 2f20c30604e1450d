"""The Dockerfile, read and linted: no Docker engine is needed to check it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests._support.stack import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("hadolint is missing: `make venv` installs it with the dev extra")
    return found


def final_stage() -> str:
    return DOCKERFILE.read_text().rsplit("\nFROM ", 1)[1]


def test_hadolint_finds_nothing_at_any_level() -> None:
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "style", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert json.loads(result.stdout) == [], result.stdout
    assert result.returncode == 0, result.stderr


def test_hadolint_would_fail_the_build_on_a_warning(tmp_path: Path) -> None:
    # The lint above is only worth something if a real mistake makes it fail.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nRUN apt-get update && apt-get install -y curl\n")
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "style", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3008" in result.stdout


def test_the_runtime_stage_runs_as_a_numeric_non_root_user() -> None:
    users = re.findall(r"^USER (\S+)$", final_stage(), flags=re.MULTILINE)
    assert users, "the runtime stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0


def test_the_runtime_stage_carries_no_build_tools_or_training() -> None:
    stage = final_stage()
    assert "apt-get" not in stage
    assert "pip install" not in stage
    copies = re.findall(r"^COPY (.+)$", stage, flags=re.MULTILINE)
    assert copies == ["--from=build /opt/venv /opt/venv", "models/ /srv/witryna/models/"]
    assert not re.search(r"^COPY .*training", DOCKERFILE.read_text(), flags=re.MULTILINE)


def test_the_gpu_image_swaps_onnxruntime_rather_than_carrying_both() -> None:
    text = DOCKERFILE.read_text()
    swap = re.search(r'if \[ "\$\{VARIANT\}" = gpu \]; then(.+?)fi', text, flags=re.DOTALL)
    assert swap is not None
    steps = swap.group(1)
    assert steps.index("pip uninstall --yes onnxruntime") < steps.index("onnxruntime-gpu==")


def test_the_healthcheck_asks_healthz_on_the_served_port() -> None:
    stage = final_stage()
    check = re.search(r"^HEALTHCHECK .*\n\s+CMD (.+)$", stage, flags=re.MULTILINE)
    assert check is not None
    command = json.loads(check.group(1))
    assert "/healthz" in command[-1]
    assert "WITRYNA_PORT" in command[-1]
    assert "WITRYNA_HOST=0.0.0.0" in stage
    assert "WITRYNA_PORT=8000" in stage


def test_dockerignore_admits_only_what_the_image_copies() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*", "an allow-list starts by excluding everything"
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE.read_text(), re.MULTILINE)
        for source in line.split()[:-1]
    }
    assert copied == admitted


def test_the_data_dir_is_set_and_belongs_to_the_images_user() -> None:
    # `witryna serve` refuses to start without a writable WITRYNA_DATA_DIR, even on a plain
    # `docker run` with no volume.
    stage = final_stage()
    env = re.search(r"WITRYNA_DATA_DIR=(\S+)", stage)
    assert env is not None
    made = re.search(r"install --directory --owner (\d+) --group (\d+) --mode \d+ (\S+)", stage)
    assert made is not None
    user = re.findall(r"^USER (\S+)$", stage, flags=re.MULTILINE)[-1]
    assert (made[3], f"{made[1]}:{made[2]}") == (env[1], user)
