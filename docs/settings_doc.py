"""Write the settings table of docs/operations.md from the ``Settings`` Struct.

    python docs/settings_doc.py           # rewrite the block between the markers
    python docs/settings_doc.py --check   # exit 1 when the block is out of date

Each row comes from one field of ``service.settings.Settings``: its variable, its type and
bounds (from msgspec), its default, and its meaning from the comment above the field in
``service/settings.py``. Fields without a comment take their meaning from ``MEANINGS``.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import msgspec
from msgspec import inspect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.settings import PREFIX, Settings  # noqa: E402

SOURCE = ROOT / "service" / "settings.py"
TARGET = ROOT / "docs" / "operations.md"
START = "<!-- settings:start -->"
END = "<!-- settings:end -->"

# Meanings for fields that carry no comment in service/settings.py (these win over a comment).
MEANINGS = {
    "host": "bind address (`witryna serve --host` overrides it)",
    "port": "bind port (`witryna serve --port` overrides it)",
    "workers": "server worker processes",
    "redis_timeout_ms": "connect and read timeout for Redis; past it the answer degrades",
    "models_dir": "folder of exported models, `<name>/<version>/` each",
    "model_name": "the model served: the version named in `<models_dir>/<name>/CURRENT`",
    "history_len": "recent events kept per person and fed to the model",
    "history_ttl_s": "a person's keys expire this long after the last write (30 days)",
    "max_body_bytes": "larger request bodies are refused with 413",
    "ort_threads": "ONNX Runtime intra-op threads per worker (0: ONNX Runtime's default)",
    "device": "`auto`: CUDA when ONNX Runtime offers it; `cuda` refuses to start without it",
    "catalog_cache_items": "catalogue items a worker keeps in memory; it starts over when full",
    "log_level": "log level of the service",
    # The comment above this field continues the one above batch_max; said whole here.
    "batch_wait_us": "micro-batching: the first request of a batch waits at most this long"
    " for company (batches form anyway while a run is in flight)",
}


def comments() -> dict[str, str]:
    """The comment lines directly above each field of ``Settings``, joined."""
    lines = SOURCE.read_text().splitlines()
    tree = ast.parse(SOURCE.read_text())
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == Settings.__name__):
            continue
        previous_end = node.lineno
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                above: list[str] = []
                for text in lines[previous_end : item.lineno - 1]:
                    stripped = text.strip()
                    if stripped.startswith("#"):
                        above.append(stripped.lstrip("#").strip())
                    else:
                        above = []
                text = " ".join(above).replace("...", "").strip().rstrip(".")
                if text:
                    found[item.target.id] = text[0].lower() + text[1:]
            previous_end = item.end_lineno or item.lineno
    return found


def kind(info: inspect.Type) -> str:
    """A field's type as a reader sets it: ``int ≥ 1``, ``auto | cpu | cuda``."""
    if isinstance(info, inspect.UnionType):
        return " or ".join(kind(t) for t in info.types if not isinstance(t, inspect.NoneType))
    if isinstance(info, inspect.LiteralType):
        return " \\| ".join(f"`{value}`" for value in info.values)
    if isinstance(info, inspect.BoolType):
        return "bool"
    if isinstance(info, inspect.StrType):
        return "str"
    if isinstance(info, inspect.IntType | inspect.FloatType):
        name = "int" if isinstance(info, inspect.IntType) else "float"
        bounds = [
            f"{sign} {value:g}"
            for sign, value in (
                ("≥", info.ge),
                (">", info.gt),
                ("≤", info.le),
                ("<", info.lt),
            )
            if value is not None
        ]
        return name if not bounds else f"{name} {', '.join(bounds)}"
    raise TypeError(f"no rendering for {info!r}")


def default(value: object) -> str:
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def table() -> str:
    info = inspect.type_info(Settings)
    assert isinstance(info, inspect.StructType)
    notes = comments()
    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for field in info.fields:
        value = field.default if field.default is not msgspec.NODEFAULT else None
        meaning = MEANINGS.get(field.name) or notes.get(field.name)
        if meaning is None:
            raise SystemExit(f"settings_doc: no meaning for {field.name}: comment it or add one")
        variable = f"`{PREFIX}{field.name.upper()}`"
        rows.append(f"| {variable} | {kind(field.type)} | {default(value)} | {meaning} |")
    return "\n".join(rows)


def block() -> str:
    generated = "<!-- generated by docs/settings_doc.py from service/settings.py: do not edit -->"
    return f"{START}\n{generated}\n{table()}\n{END}"


def render(document: str) -> str:
    head, start, rest = document.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"settings_doc: {TARGET} lacks {START} ... {END}")
    return head + block() + tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the block is stale")
    args = parser.parse_args()
    document = TARGET.read_text()
    wanted = render(document)
    if args.check:
        if wanted != document:
            print(f"{TARGET} is out of date: run python docs/settings_doc.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
