"""The files a user or a citation manager reads first: licence, citation, change log, API reference.

Each is checked against the package's own metadata, so that a version bump or a licence change that
forgets one of them fails here.
"""

import ast
import importlib.metadata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# the installed metadata is pyproject.toml's [project] table (tomllib would need Python 3.11)
METADATA = importlib.metadata.metadata("tdlm")
VERSION, LICENCE = METADATA["Version"], METADATA["License"]


def test_license_file_is_the_declared_licence():
    first_line = (ROOT / "LICENSE").read_text().splitlines()[0]
    assert first_line == f"{LICENCE} License"


def test_citation_names_the_software_and_both_papers():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors", "version", "license"):
        assert cff.get(key), key
    assert cff["version"] == VERSION
    assert cff["license"] == LICENCE
    arxiv = {ident["value"] for ref in cff["references"] for ident in ref["identifiers"]}
    assert arxiv == {"arXiv:2506.06789", "arXiv:2007.08093"}
    for ref in cff["references"]:
        assert ref["type"] and ref["title"] and ref["authors"] and ref["year"]


def test_changelog_has_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{VERSION}]" in text or "## [Unreleased]" in text


def _modules() -> list[str]:
    src = ROOT / "src"
    names = []
    for path in sorted((src / "tdlm").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("module", _modules())
def test_every_module_says_why_it_exists(module):
    """The API reference shows each module's docstring as its page's introduction."""
    path = ROOT / "src" / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    assert ast.get_docstring(ast.parse(path.read_text())), f"{module} has no module docstring"


def test_api_reference_builds_a_page_per_module(tmp_path):
    pdoc = pytest.importorskip("pdoc", reason="pdoc is in the test extra")
    pdoc.pdoc("tdlm", output_directory=tmp_path)
    pages = {str(p.relative_to(tmp_path).with_suffix("")).replace("/", ".") for p in tmp_path.rglob("*.html")}
    missing = set(_modules()) - pages
    assert not missing, f"no API page for {sorted(missing)}"
    # a page carries its module's docstring (the words, whatever markup pdoc puts around them)
    fields_page = (tmp_path / "tdlm" / "fields.html").read_text()
    assert "One parameter framework for both model families" in fields_page
