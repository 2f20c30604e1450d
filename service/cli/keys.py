"""`witryna keys`: a site key and a secret key for a local service, made once and kept.

`make run` sources the file before `witryna serve`, so the demo store (which the service
hands the site key) and the README's curl examples (which source it too) use the same keys.
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path


def generate() -> dict[str, str]:
    return {
        "WITRYNA_SITE_KEYS": f"site_{secrets.token_urlsafe(24)}",
        "WITRYNA_SECRET_KEYS": f"secret_{secrets.token_urlsafe(32)}",
    }


def ensure(path: Path) -> bool:
    """Write fresh keys to ``path`` unless it exists; True when it wrote them."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    # Readable by its owner only: it holds a secret key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.writelines(f"{name}={value}\n" for name, value in generate().items())
    return True


def command(args: argparse.Namespace) -> int:
    made = ensure(args.file)
    state = "new keys in" if made else "keys kept in"
    print(f"{state} {args.file}; to use them: set -a; . {args.file}; set +a")
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "keys", help="make a site key and a secret key for a local service, once"
    )
    parser.add_argument(
        "--file",
        type=Path,
        default=Path("build/keys.env"),
        help="where the keys are kept, as WITRYNA_* lines (default %(default)s)",
    )
    parser.set_defaults(func=command)
