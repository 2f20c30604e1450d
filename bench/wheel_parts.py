"""What a GPU host without network needs, made ready here (``make gpu-wheels``), and put
back together there (bench/gpu_host.sh).

    python -m bench.wheel_parts prepare [--python-version 3.12] [--out build/wheels]
    python -m bench.wheel_parts split WHEEL OUT_DIR
    python -m bench.wheel_parts join PARTS_DIR OUT_DIR     # prints the wheel's path
    python -m bench.wheel_parts requirements               # the service's, less onnxruntime

The onnxruntime-gpu wheel (about 250 MB) goes in parts under 60 MiB, which a file-size
limit on the way lets through, with its SHA-256 to check the join against. Only the
standard library here: ``join`` and ``requirements`` run before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PART_BYTES = 59 * 1024 * 1024
PART = ".part-"
ROOT = Path(__file__).resolve().parents[1]
# The lent GPU machines' image runs Python 3.12 on manylinux x86-64.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64")  # fmt: skip
# Debian's redis-server and the libraries it needs beyond a CUDA image's.
REDIS_DEBS = ("redis-server", "redis-tools", "liblzf1", "libjemalloc2")
CHUNK = 1024 * 1024


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as whole:
        while block := whole.read(CHUNK):
            sha.update(block)
    return sha.hexdigest()


def split(wheel: Path, out: Path, part_bytes: int = PART_BYTES) -> list[Path]:
    """``wheel`` as ``NAME.whl.part-00``, ``-01``... of at most ``part_bytes``, and
    ``NAME.whl.sha256``."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(f"{wheel.name}{PART}*"):
        stale.unlink()
    parts: list[Path] = []
    with wheel.open("rb") as whole:
        while block := whole.read(part_bytes):
            part = out / f"{wheel.name}{PART}{len(parts):02d}"
            part.write_bytes(block)
            parts.append(part)
    (out / f"{wheel.name}.sha256").write_text(f"{digest(wheel)}  {wheel.name}\n")
    return parts


def join(parts_dir: Path, out: Path) -> Path:
    """The one wheel whose parts are in ``parts_dir``, joined in ``out`` and checked."""
    names = sorted({p.name.split(PART)[0] for p in parts_dir.glob(f"*.whl{PART}*")})
    if len(names) != 1:
        raise SystemExit(f"expected the parts of one wheel in {parts_dir}, found {names or 'none'}")
    parts = sorted(parts_dir.glob(f"{names[0]}{PART}*"))
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / names[0]
    with wheel.open("wb") as whole:
        for part in parts:
            whole.write(part.read_bytes())
    check = parts_dir / f"{names[0]}.sha256"
    if check.is_file() and check.read_text().split()[0] != digest(wheel):
        wheel.unlink()
        raise SystemExit(f"{names[0]}: the joined parts do not match {check.name}")
    return wheel


def requirements() -> list[str]:
    """The service's and the benchmark's requirements, less onnxruntime, which the GPU
    build replaces."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["bench"]]
    return [r for r in wanted if re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0] != "onnxruntime"]


def _download(python: str, dest: Path, wanted: list[str], deps: bool) -> None:
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--implementation",
               "cp", "--python-version", python, *platforms, "-d", str(dest), *wanted]  # fmt: skip
    subprocess.run(command + ([] if deps else ["--no-deps"]), check=True)


def gpu_version(python: str) -> str:
    """onnxruntime-gpu at this onnxruntime's version, else its newest release before it (a
    GPU build can lag the CPU one)."""
    ours = version("onnxruntime")
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "onnxruntime-gpu", "--python-version",
         python, "--only-binary=:all:", *(a for p in PLATFORMS for a in ("--platform", p))],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = re.search(r"Available versions: (.*)", listed)
    releases = found.group(1).split(", ") if found else []

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", v))

    older = [v for v in releases if key(v) <= key(ours)]
    if not older:
        raise SystemExit(f"no onnxruntime-gpu release at or before onnxruntime {ours}")
    chosen = max(older, key=key)
    if chosen != ours:
        print(f"onnxruntime-gpu has no {ours}: taking {chosen}", file=sys.stderr)
    return chosen


def prepare(out: Path, python: str) -> None:
    """The GPU wheel in parts, the service's wheels in ``deps/`` and redis's .debs in
    ``redis/``."""
    staging = out / "staging"
    _download(python, staging, [f"onnxruntime-gpu=={gpu_version(python)}"], deps=False)
    (wheel,) = staging.glob("onnxruntime_gpu-*.whl")
    for old in out.glob(f"onnxruntime_gpu-*.whl{PART}*"):
        old.unlink()
    print("\n".join(map(str, split(wheel, out))))
    wheel.unlink()
    staging.rmdir()
    _download(python, out / "deps", requirements(), deps=True)
    (out / "redis").mkdir(exist_ok=True)
    subprocess.run(["apt-get", "download", *REDIS_DEBS], cwd=out / "redis", check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    ready = verbs.add_parser("prepare")
    ready.add_argument("--out", type=Path, default=Path("build/wheels"))
    ready.add_argument("--python-version", default="3.12", help="the GPU host's (%(default)s)")
    cut = verbs.add_parser("split")
    cut.add_argument("wheel", type=Path)
    cut.add_argument("out", type=Path)
    cut.add_argument("--part-bytes", type=int, default=PART_BYTES)
    glue = verbs.add_parser("join")
    glue.add_argument("parts", type=Path)
    glue.add_argument("out", type=Path)
    verbs.add_parser("requirements")
    args = parser.parse_args()
    if args.verb == "prepare":
        prepare(args.out, args.python_version)
    elif args.verb == "split":
        print("\n".join(map(str, split(args.wheel, args.out, args.part_bytes))))
    elif args.verb == "join":
        print(join(args.parts, args.out))
    else:
        print("\n".join(requirements()))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PackageNotFoundError:
        sys.exit("onnxruntime is not installed here: `make venv` first")
