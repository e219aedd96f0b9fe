"""tdlm.workflow_config: `tdlm sweep-check` merges files and `--config` values as Snakemake does."""

from __future__ import annotations

from pathlib import Path

import yaml

from tdlm import cli, workflow_config

REPO = Path(__file__).resolve().parents[1]
# the files the workflow merges under the config, wherever the tests run from
BASE = ["--base", str(REPO / "config" / "config.yaml"), "--schema", str(REPO / workflow_config.SCHEMA_PATH)]

SMALL = {"grids": [{"alpha": {"M": 20, "N": [4]}, "L": [2]}], "samples": 1, "t_star": 100, "t_w": [10]}


def _check(tmp_path, capsys, *extra: str) -> tuple[int, str, str]:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    code = cli.main(["sweep-check", str(path), *BASE, *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_config_values_go_over_the_files_as_snakemake_takes_them(tmp_path, capsys):
    """A file without `run` is refused; `--config run=.. samples=2` (Snakemake's parser, after the files)
    names it and doubles the jobs; a bad value given there is named like one in a file."""
    code, _, err = _check(tmp_path, capsys)
    assert code == 2 and "run:" in err
    code, out, _ = _check(tmp_path, capsys, "--config", "run=mine", "samples=2")
    assert code == 0 and [line.split()[-1] for line in out.splitlines()[1:]] == ["0", "1"]
    code, _, err = _check(tmp_path, capsys, "--config", "run=mine", "samples=0")
    assert code == 2 and "samples: 0 is less than the minimum of 1" in err
    code, _, err = _check(tmp_path, capsys, "--config", "junk")
    assert code == 2 and "--config:" in err
