"""Thermal deep learning machine: Langevin MD of a deep network whose neurons and weights are particles."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tdlm")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
