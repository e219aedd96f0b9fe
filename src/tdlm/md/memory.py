"""What one simulate job needs before it starts: its peak memory, estimated from its sizes, and its times in int64.

`tdlm simulate` checks both against the machine before it reads any data; the sweep's checks
(`tdlm.sweep.jobs.check`) hold the largest job against `resources.simulate.mem_mb`. Both read it here, in the
MD layer, so that the job's own command does not reach up into the sweep.
"""

from __future__ import annotations

import math
from typing import Any

from tdlm.fields import INT64_MAX

# a job's memory: the branched state (positions), velocities, gradient, noise, the reference configurations
# and two state-sized temporaries of the forces; the snapshots at each t_w; and the interpreter with torch
STATE_COPIES = 7
BASE_MB = 500
GRID_BYTES = 50  # per drawn time of the log grid: numpy's float and int arrays and a list of Python ints


def job_memory_mb(config: dict[str, Any], M: int, N: int, L: int, n_inputs: int) -> float:
    """Estimated peak memory of one simulate job (MB), for the check against resources.simulate.mem_mb and
    (`tdlm simulate`) against the memory the machine has free."""
    from tdlm.md.layout import Layout

    classes = len(config.get("data", {}).get("classes", [0, 1]))
    n_tw, S = len(config["t_w"]), config.get("samples_per_job", 1)
    layout = Layout((n_inputs,) + (N,) * (L - 1) + (classes,), M, S, 1)
    itemsize = 8 if config.get("dtype") == "float64" else 4
    coordinates = layout.total * (STATE_COPIES * n_tw * config["n_replicas"] + n_tw)
    R = config["n_replicas"]
    t_star, per_decade = config.get("t_star", 1), config.get("record_per_decade", 10)
    drawn = math.log10(max(t_star, 1)) * per_decade + 2  # the log-time grid before rounding merges its times
    times = min(t_star + 1, drawn)
    records = times * n_tw * S * (R * (5 * L + 3) + R * (R - 1) // 2 * 5 * L) * 8  # float64 records
    return BASE_MB + (coordinates * itemsize + records + drawn * GRID_BYTES) / 1e6


def time_errors(t_w: list[int] | tuple[int, ...], t_star: int) -> list[str]:
    """The MD step counter and the time coordinates are int64: t_w + t* must fit."""
    if t_w and max(t_w) + t_star > INT64_MAX:
        return [f"t_star: got {t_star} with t_w up to {max(t_w)}; allowed values: t_w + t_star <= {INT64_MAX} (int64 steps)"]
    return []
