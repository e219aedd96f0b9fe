"""envs/tdlm.yaml, the environment of every rule: it parses, pins every dependency of pyproject.toml at a
version pyproject allows, installs nothing by path, and the rules' command finds the package without it.
"""

from __future__ import annotations

import re

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from helpers.workflow import REPO, copy_workflow, load_tiny, run_snakemake, subprocess_env, write_config

ENV = REPO / "envs" / "tdlm.yaml"


def _env_pins() -> dict[str, str]:
    """name -> pinned version (conda `name =X.Y` and pip `name==X.Y.Z` entries)."""
    env = yaml.safe_load(ENV.read_text())
    assert env["channels"][0] == "conda-forge"
    pins: dict[str, str] = {}
    for dep in env["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*=?=\s*([0-9][0-9.]*)", entry.strip())
            if match:
                pins[match.group(1).lower()] = match.group(2)
            else:
                assert entry.strip() == "pip", f"unpinned or path entry in {ENV.name}: {entry!r}"
    return pins


def test_every_dependency_is_pinned_within_pyproject():
    pins = _env_pins()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = req.name.lower()
        assert name in pins, f"{name} of pyproject.toml is not pinned in {ENV.name}"
        assert req.specifier.contains(Version(pins[name])), f"{name}: {pins[name]} does not satisfy {req.specifier}"
    python = project["requires-python"]
    assert Requirement(f"python{python}").specifier.contains(Version(pins["python"]))


def test_the_rules_name_this_env_and_run_the_workflows_own_package(tmp_path):
    """Every rule declares envs/tdlm.yaml; the command a rule runs imports tdlm from the workflow's src/."""
    workdir = copy_workflow(tmp_path / "wf")
    for smk in (workdir / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        rules = len(re.findall(r"^(?:rule|checkpoint) \w+:", text, flags=re.M))  # a checkpoint is a rule too
        assert rules == text.count('conda:\n        "../../envs/tdlm.yaml"'), smk.name
    # a stand-in package in the workflow's src/ that says where it was imported from and writes --out
    fake = workdir / "src" / "tdlm"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "cli.py").write_text(
        "import sys\nout = sys.argv[sys.argv.index('--out') + 1]\nopen(out, 'w').write('tdlm from ' + __file__)\n"
    )
    config = write_config(workdir / "tiny.yaml", load_tiny())
    target = "results/tiny/sims/M~20/N~4/L~2/T~1e-05/job~0.nc"
    env = subprocess_env()
    env.pop("PYTHONPATH")  # only the workflow's own prefix puts a tdlm on the path
    result = run_snakemake(workdir, target, "--configfile", str(config), timeout=240, env=env)
    assert result.returncode == 0, result.output[-3000:]
    assert (workdir / target).read_text() == f"tdlm from {fake / 'cli.py'}"
