"""Thermal deep learning machine: Langevin MD of a deep network whose neurons and weights are particles."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tdlm")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"


def open_run(folder: str) -> dict:
    """The datasets of results/<run>/ by role (see tdlm.results.open_run); imports xarray only when called."""
    from tdlm.results import open_run as _open_run

    return _open_run(folder)
