"""The one place where a job's device is chosen and described (both model families use it).

`auto` means CUDA when this process can use it and was not denied a GPU, else the CPU, with two
guards for batch jobs: a job that SLURM (or the user, through CUDA_VISIBLE_DEVICES) gave GPUs but
where CUDA does not start is a named error, not a silent CPU run on a few threads while the GPU idles;
and a SLURM job given no GPU runs on the CPU even where the node lets it see GPUs (they belong to
other jobs). `describe` is what outputs and checkpoints record about the device that computed them.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Mapping

import torch

from tdlm.fields import ConfigError

log = logging.getLogger("tdlm")

# environment variables through which SLURM hands GPUs to a job (CUDA_VISIBLE_DEVICES may also be the user's)
GPU_VARIABLES = ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE", "CUDA_VISIBLE_DEVICES")
NO_GPU_VALUES = ("", "-1", "NoDevFiles", "none")


def given_gpus(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The GPU-assignment variables of this process that name at least one GPU (name -> value)."""
    env = os.environ if env is None else env
    given = {name: env[name].strip() for name in GPU_VARIABLES if name in env}
    given = {name: value for name, value in given.items() if value not in NO_GPU_VALUES}
    if given.get("SLURM_GPUS_ON_NODE") == "0":
        del given["SLURM_GPUS_ON_NODE"]
    return given


def cuda_unavailable_reason() -> str:
    """Why torch cannot use CUDA here, in words (a CPU-only wheel, a driver that does not start, ...)."""
    if torch.version.cuda is None and torch.version.hip is None:
        return f"torch {torch.__version__} is a CPU-only build"
    try:
        torch.cuda.init()
    except Exception as err:  # noqa: BLE001 - its message is the reason
        return f"torch {torch.__version__} (CUDA {torch.version.cuda}) cannot start CUDA: {type(err).__name__}: {err}"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"


def resolve_device(name: str, field: str = "device", env: Mapping[str, str] | None = None) -> torch.device:
    """'cpu', 'cuda' or 'auto' -> the torch.device a job runs on; ConfigError (naming `field`) when the
    request cannot be met: 'cuda' without CUDA, or 'auto' in a job that was given GPUs CUDA cannot use."""
    env = os.environ if env is None else env
    if name == "cpu":
        gpus = given_gpus(env)
        if gpus and "SLURM_JOB_ID" in env:
            log.warning("%s: cpu in a SLURM job that holds GPUs (%s): they stay unused", field, _listed(gpus))
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"{field}: got 'cuda' but CUDA is unavailable ({cuda_unavailable_reason()}); allowed values here: auto, cpu"
            )
        return torch.device("cuda")
    if name != "auto":
        raise ConfigError(f"{field}: got {name!r}; allowed values: auto, cpu, cuda")
    gpus = given_gpus(env)
    if torch.cuda.is_available():
        if "SLURM_JOB_ID" in env and not gpus:
            log.warning("%s: auto in a SLURM job given no GPU: running on the CPU (the GPUs seen belong to others)", field)
            return torch.device("cpu")
        return torch.device("cuda")
    if gpus:
        raise ConfigError(
            f"{field}: got 'auto' in a job that was given GPUs ({_listed(gpus)}) but CUDA is unavailable "
            f"({cuda_unavailable_reason()}); install a torch build for this node's driver, or pass --device cpu "
            "to run on the CPU deliberately; allowed values: auto, cpu, cuda"
        )
    return torch.device("cpu")


def _listed(gpus: Mapping[str, str]) -> str:
    return ", ".join(f"{name}={value}" for name, value in gpus.items())


def describe(device: torch.device) -> dict[str, str]:
    """What a checkpoint and an output record about a device: its type, model name and compute capability
    (CUDA's sm version; the random numbers each element gets depend on the launch grid, so on the model)."""
    if device.type != "cuda":
        return {"device": device.type, "device_name": cpu_model(), "device_capability": "none"}
    major, minor = torch.cuda.get_device_capability(device)
    return {"device": "cuda", "device_name": torch.cuda.get_device_name(device), "device_capability": f"{major}.{minor}"}


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else what platform knows)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def software() -> dict[str, str]:
    """torch, CUDA and cuDNN versions of this process ("none": a CPU-only build)."""
    return {
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "none",
        "cudnn_version": str(torch.backends.cudnn.version() or "none"),
    }


def tf32_in_effect(device: torch.device) -> bool:
    """Whether float32 matrix products on `device` run in TF32 (CUDA only, when allowed: tdlm's `tf32`)."""
    return device.type == "cuda" and bool(torch.backends.cuda.matmul.allow_tf32)


def available_mb() -> float | None:
    """MemAvailable of /proc/meminfo in MB (None where there is no such file)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def check_fits_memory(need_mb: float, sizes: str, what: str = "the job") -> None:
    """ConfigError naming `sizes` (the fields that set the memory) when `what`, estimated to need `need_mb` MB
    from its sizes, does not fit the memory this machine has free: refused before any data or work, not killed
    by the kernel halfway."""
    free = available_mb()
    if free is not None and need_mb > free:
        raise ConfigError(
            f"{sizes}: {what} needs about {need_mb:.0f} MB but {free:.0f} MB are available; "
            "allowed values: smaller sizes, or a machine with more memory"
        )
