"""The documents, held: a short README, every setting documented (the table generated and
current), every link resolving, and no path in backticks that no longer exists."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import msgspec
import pytest
import yaml

from service.settings import PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
OPERATIONS = DOCS / "operations.md"
DOCUMENTS = [README, ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]
EXPECTED_DOCS = {"api", "policy", "sdk", "model", "operations", "benchmarks", "architecture"}
MAX_README_LINES = 200

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
CODE = re.compile(r"`([^`\n]+)`")
VARIABLE = re.compile(rf"\b{PREFIX}[A-Z0-9_]*[A-Z0-9]\b")
# A backticked repository path: one of the top folders, then a file with an extension.
REPO_PATH = re.compile(
    r"^(?:service|bench|training|tests|helm|loadtests|reports|docs)/[\w./-]*\.[a-z]+$"
)


def prose(path: Path) -> str:
    """The Markdown outside fenced code blocks."""
    return FENCE.sub("", path.read_text())


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    for heading in HEADING.findall(prose(path)):
        base = slug(heading)
        seen = counts.get(base, 0)
        counts[base] = seen + 1
        found.add(base if seen == 0 else f"{base}-{seen}")
    return found


def links(path: Path) -> list[str]:
    text = prose(path)
    return [m["target"] for m in LINK.finditer(text)] + AUTOLINK.findall(text)


def settings_doc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_doc", DOCS / "settings_doc.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def variables() -> set[str]:
    return {f"{PREFIX}{field.name.upper()}" for field in msgspec.structs.fields(Settings)}


def test_readme_is_short() -> None:
    lines = README.read_text().splitlines()
    assert 20 < len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"


def test_the_documents_by_reader_exist() -> None:
    assert {path.stem for path in DOCS.glob("*.md")} >= EXPECTED_DOCS
    assert (ROOT / "LICENSE").read_text().count("Apache License") >= 2


def test_every_setting_is_in_operations() -> None:
    documented = set(VARIABLE.findall(OPERATIONS.read_text()))
    assert len(variables()) > 20
    missing = variables() - documented
    assert not missing, f"docs/operations.md lacks {sorted(missing)}"


def test_settings_table_is_current() -> None:
    document = OPERATIONS.read_text()
    generator = settings_doc()
    assert generator.START in document
    assert generator.END in document
    assert generator.render(document) == document, "run: python docs/settings_doc.py"
    block = document.split(generator.START)[1].split(generator.END)[0]
    rows = [line for line in block.splitlines() if line.startswith(f"| `{PREFIX}")]
    assert len(rows) == len(variables())


def test_no_document_names_a_setting_that_does_not_exist() -> None:
    named = {name for path in DOCUMENTS for name in VARIABLE.findall(path.read_text())}
    assert named, "no WITRYNA_* variable found in the documents"
    assert not named - variables(), f"not settings: {sorted(named - variables())}"


@pytest.mark.parametrize(
    "values", ["helm/witryna/values.yaml", "helm/values-cpu.yaml", "helm/values-gpu.yaml"]
)
def test_chart_config_keys_are_settings(values: str) -> None:
    config = yaml.safe_load((ROOT / values).read_text()).get("config") or {}
    assert config, f"{values} has no config"
    fields = {field.name for field in msgspec.structs.fields(Settings)}
    assert not set(config) - fields, f"{values}: not settings: {sorted(set(config) - fields)}"


def test_every_relative_link_resolves() -> None:
    checked = 0
    broken: list[str] = []
    for document in DOCUMENTS:
        for target in links(document):
            if urlsplit(target).scheme or target.startswith("mailto:"):
                continue
            checked += 1
            file_part, _, anchor = target.partition("#")
            path = (document.parent / file_part).resolve() if file_part else document
            where = f"{document.relative_to(ROOT)}: {target}"
            if not path.exists():
                broken.append(f"{where} (no such file)")
            elif not path.is_relative_to(ROOT):
                broken.append(f"{where} (outside the repository)")
            elif anchor and (path.suffix != ".md" or anchor not in anchors(path)):
                broken.append(f"{where} (no heading #{anchor})")
    assert checked > 30, f"only {checked} relative links found"
    assert not broken, "\n".join(broken)


def test_every_anchor_link_was_checked() -> None:
    with_anchor = [t for d in DOCUMENTS for t in links(d) if "#" in t and "://" not in t]
    assert len(with_anchor) > 5


def test_external_links_are_well_formed() -> None:
    external = [t for d in DOCUMENTS for t in links(d) if urlsplit(t).scheme]
    assert external, "no external link found"
    for target in external:
        parts = urlsplit(target)
        assert parts.scheme in {"http", "https"}, target
        host = parts.hostname or ""
        assert "." in host or host == "localhost", target
        assert not re.search(r"\s", target), target


def test_backticked_repository_paths_exist() -> None:
    checked = 0
    missing: list[str] = []
    for document in DOCUMENTS:
        for span in CODE.findall(prose(document)):
            if not REPO_PATH.match(span) or re.search(r"[<>*…{}]", span):
                continue
            checked += 1
            if not (ROOT / span).exists():
                missing.append(f"{document.relative_to(ROOT)}: {span}")
    assert checked > 10, f"only {checked} backticked paths found"
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Dashboard and metrics", "dashboard-and-metrics"),
        ("The storefront SDK: witryna.js", "the-storefront-sdk-witrynajs"),
        ("`witryna bench` — what it measures", "witryna-bench--what-it-measures"),
    ],
)
def test_slug_is_githubs(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor
