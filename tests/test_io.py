"""tdlm.io: every output written under a temporary name and renamed; the bytes are the format writer's own."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tdlm import io


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"M": [20, 40], "q_star": [np.exp(-1), np.nan], "phase": ["liquid", "solid"]})


def test_csv_and_json_bytes_are_the_plain_writers(tmp_path, frame):
    """The atomic write changes the name written to, never the content (results stay bit-identical)."""
    io.write_csv(frame, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == frame.to_csv(index=False).encode()
    data = {"b": [1.5, None], "a": {"z": 1, "y": "x"}}
    io.write_json(data, tmp_path / "sorted.json", sort_keys=True)
    io.write_json(data, tmp_path / "as_given.json")
    assert (tmp_path / "sorted.json").read_text() == json.dumps(data, indent=1, sort_keys=True)
    assert (tmp_path / "as_given.json").read_text() == json.dumps(data, indent=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["as_given.json", "sorted.json", "t.csv"]  # no temporaries


def test_netcdf_round_trip_and_folder_made(tmp_path):
    ds = xr.Dataset({"q": ("t", np.array([1.0, 0.5, np.nan]))}, coords={"t": [0, 1, 2]})
    out = tmp_path / "new" / "sub" / "x.nc"
    io.write_netcdf(ds, out)
    with xr.open_dataset(out, engine="netcdf4") as back:
        xr.testing.assert_identical(back.load(), ds)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, frame):
    out = tmp_path / "t.csv"
    out.write_text("old\n")

    class Broken:
        def to_csv(self, path, index):
            open(path, "w").write("half")
            raise OSError(28, "No space left on device")

    with pytest.raises(io.OutputError, match=r"t\.csv: cannot write \(No space left on device\)"):
        io.write_csv(Broken(), out)
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_a_stale_temporary_of_a_dead_process_is_removed(tmp_path, frame):
    dead = 2**22 + 12345  # above the default pid_max of 2^22: no live process has it
    stale = tmp_path / f".t.csv.tmp{dead}"
    stale.write_text("killed halfway")
    alive = tmp_path / f".t.csv.tmp{os.getppid()}"
    alive.write_text("another process, still writing")
    io.write_csv(frame, tmp_path / "t.csv")
    assert not stale.exists() and alive.exists()


def test_figure_format_follows_the_final_name(tmp_path):
    """savefig is given the format: the temporary's name (.x.png.tmp<pid>) names none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    io.write_figure(fig, tmp_path / "f.png")
    io.write_figure(fig, tmp_path / "f.pdf")
    plt.close(fig)
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-"
