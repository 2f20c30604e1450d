"""Write the chart's generated parts from their sources, so that neither can drift:

    python helm/chart_doc.py           # rewrite both
    python helm/chart_doc.py --check   # exit 1 when either is out of date

- ``config`` in witryna/values.schema.json: a property per field of
  ``service.settings.Settings``, typed and bounded as msgspec types it, and no other key, so
  that a misspelt setting fails `helm install` instead of the pods' start.
- The parameters of witryna/README.md: a table per ``## @section`` of values.yaml and a row
  per ``## @param`` (the annotations of Bitnami's readme-generator), with the default that
  values.yaml gives.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import msgspec
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.settings import PREFIX, Settings  # noqa: E402

CHART = ROOT / "helm" / "witryna"
SCHEMA = CHART / "values.schema.json"
VALUES = CHART / "values.yaml"
README = CHART / "README.md"
START = "<!-- parameters:start -->"
END = "<!-- parameters:end -->"

SECTION = re.compile(r"^\s*## @section (.+)$")
PARAM = re.compile(r"^\s*## @param (\S+) (.+)$")
NOTE = re.compile(r"^\s*##(?: (.*))?$")


def config_schema() -> dict[str, Any]:
    """The schema of ``config``: exactly the fields of Settings, each with its type."""
    document = msgspec.json.schema(Settings)
    fields = document["$defs"][Settings.__name__]["properties"]
    properties = {}
    for name, schema in fields.items():
        kept = {k: v for k, v in schema.items() if k not in ("default", "title")}
        properties[name] = {"description": f"{PREFIX}{name.upper()}", **kept}
    return {
        "type": "object",
        "description": "WITRYNA_* settings by field name (service/settings.py); no other key",
        "additionalProperties": False,
        "properties": properties,
    }


def schema_text() -> str:
    schema = json.loads(SCHEMA.read_text())
    schema["properties"]["config"] = config_schema()
    return json.dumps(schema, indent=2) + "\n"


class Section(msgspec.Struct):
    title: str
    notes: list[str] = []
    params: list[list[str]] = []


def sections(text: str) -> list[Section]:
    """values.yaml's sections, each with its notes and its parameters ([name, description])."""
    found: list[Section] = []
    continued: list[str] | None = None
    for line in text.splitlines():
        if heading := SECTION.match(line):
            found.append(Section(heading[1].strip()))
            continued = None
        elif param := PARAM.match(line):
            continued = [param[1], param[2].strip()]
            found[-1].params.append(continued)
        elif (note := NOTE.match(line)) and found:
            words = (note[1] or "").strip()
            if continued is not None:
                continued[1] += f" {words}"
            else:
                found[-1].notes.append(words)
        else:
            # A value, a blank line or a plain comment ends a parameter's description.
            continued = None
    return found


def default(values: dict[str, Any], name: str) -> str:
    value: Any = values
    for key in name.split("."):
        value = value[key]
    if isinstance(value, bool):
        shown = str(value).lower()
    elif isinstance(value, (dict, list)):
        shown = json.dumps(value, separators=(", ", ": "))
    elif value is None:
        shown = "nil"
    else:
        shown = json.dumps(value) if value == "" else str(value)
    return f"`{shown}`"


def cell(text: str) -> str:
    """``text`` in a table cell: pipes escaped, and outside code the angle brackets of
    placeholders such as <release>, which Markdown would take for HTML."""
    parts = text.replace("|", "\\|").split("`")
    for n in range(0, len(parts), 2):
        parts[n] = parts[n].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def parameters_text() -> str:
    text = VALUES.read_text()
    values = yaml.safe_load(text)
    lines: list[str] = []
    for section in sections(text):
        lines += ["", f"### {section.title}", ""]
        if notes := " ".join(n for n in section.notes if n):
            lines += [cell(notes), ""]
        lines += ["| Name | Description | Value |", "| --- | --- | --- |"]
        for name, description in section.params:
            lines.append(f"| `{name}` | {cell(description)} | {cell(default(values, name))} |")
    return "\n".join(lines) + "\n"


def readme_text() -> str:
    text = README.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{parameters_text()}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when out of date")
    args = parser.parse_args()
    stale = [
        path
        for path, wanted in ((SCHEMA, schema_text()), (README, readme_text()))
        if path.read_text() != wanted
    ]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run python helm/chart_doc.py")
        return 1 if stale else 0
    SCHEMA.write_text(schema_text())
    README.write_text(readme_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
