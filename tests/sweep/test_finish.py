"""tdlm.sweep.finish: the end of a successful workflow run (issue 27)."""

from __future__ import annotations

from tdlm.sweep.finish import remove_empty_dirs, run_summary


def test_remove_empty_dirs_keeps_folders_with_files(tmp_path):
    root = tmp_path / "checkpoints"
    (root / "M~20" / "N~4" / "L~2").mkdir(parents=True)
    (root / "M~20" / "N~2" / "L~4").mkdir(parents=True)
    kept = root / "M~40" / "N~4" / "L~2" / "job~0.ckpt"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"x")
    removed = remove_empty_dirs(root)
    assert root / "M~20" in removed and (root / "M~20" / "N~4" / "L~2") in removed
    assert not (root / "M~20").exists()
    assert kept.exists() and root.is_dir()  # a job's checkpoint and the folders above it stay
    (tmp_path / "other").mkdir()  # outside the root: never touched
    kept.unlink()
    remove_empty_dirs(root)
    assert not root.exists() and (tmp_path / "other").is_dir()
    assert remove_empty_dirs(root) == []


def test_run_summary_names_diagram_tables_and_report():
    out = "results/tiny"
    outputs = [
        f"{out}/overlaps.nc",
        f"{out}/figures/phase_diagram.png",
        f"{out}/figures/phase_diagram.pdf",
        f"{out}/figures/q_profile.png",
        f"{out}/phase.csv",
        f"{out}/xi.csv",
    ]
    text = run_summary(out, outputs)
    assert "phase diagram: results/tiny/figures/phase_diagram.png" in text
    assert "2 PNG" in text
    assert "tables: results/tiny/phase.csv, results/tiny/xi.csv" in text
    assert "snakemake --report results/tiny/report.html" in text
    assert "phase diagram" not in run_summary(out, [f"{out}/phase.csv"])
