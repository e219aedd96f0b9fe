"""Physical-range checks of the MD state and its records: a diverging run (dt or T too large) raises
Divergence, naming the step and the layer, before a bad state reaches a checkpoint or a job file."""

from __future__ import annotations

import torch

from tdlm.md.layout import Layout
from tdlm.variables import BOX, bounded

DIVERGENCE_CHECK_STEPS = 1000  # steps between checks of the running state outside records and checkpoints


class Divergence(RuntimeError):
    """NaN or Inf appeared; the message names the step and the first bad layer."""


def check_energies(step: int, energies: torch.Tensor) -> None:
    """Raise Divergence naming the step and the first layer whose energy is not finite."""
    bad = ~torch.isfinite(energies)
    if bad.any():
        raise Divergence(f"non-finite energy at step {step} in layer {_first_layer(bad)}")


def check_positions(step: int, layout: Layout, position: torch.Tensor) -> None:
    """Raise Divergence naming the step and the first block (weights J_l or spins S_l) that is not finite
    or has left the box (-1, 1): the walls fold a coordinate back once per step, so a step longer than the
    box (a diverging run: dt or T too large) can leave it outside."""
    low, high = torch.aminmax(position)  # one pass, no state-sized temporary; NaN propagates
    if -BOX.abs_max <= float(low) and float(high) <= BOX.abs_max:
        return
    names = [("weights J", l) for l in range(1, layout.L + 1)] + [("spins S", l) for l in range(1, layout.L)]
    for (kind, l), block in zip(names, layout.blocks(position)):
        if not torch.isfinite(block).all():
            raise Divergence(f"non-finite position at step {step} in {kind}_{l} (layer {l})")
        size = float(block.abs().max())
        if size > BOX.abs_max:
            raise Divergence(
                f"coordinate out of the box at step {step} in {kind}_{l} (layer {l}): |x| = {size:.4g} > {BOX.abs_max:g}; "
                "a step moved it farther than the walls fold back (lower dt or T)"
            )


def _first_layer(bad: torch.Tensor) -> int:
    """The first layer (1-based, the last axis) where `bad` holds."""
    return int(bad.reshape(-1, bad.shape[-1]).any(0).nonzero()[0]) + 1


def check_observables(step: int, measured: dict[str, torch.Tensor]) -> None:
    """Raise Divergence when a measured variable leaves the range the table of variables gives it
    (`tdlm.variables`: overlaps and correlations |x| <= 1, the kinetic temperature finite): such a record
    cannot be physical and must never reach a file."""
    for variable in bounded():
        name, bound, values = variable.name, variable.bound, measured.get(variable.name)
        if values is None:
            continue
        if bound.abs_max is not None:
            over = values.abs() > bound.abs_max + bound.tolerance  # NaN (no such layer) compares False
            if over.any():
                worst = float(values.abs().nan_to_num(0.0).max())
                raise Divergence(
                    f"{name} out of its physical range at step {step} in layer {_first_layer(over)}: "
                    f"|{name}| = {worst:.4g} > {bound.abs_max:g}"
                )
        if bound.finite and not torch.isfinite(values).all():
            where = f" in layer {_first_layer(~torch.isfinite(values))}" if "layer" in variable.dims else ""
            raise Divergence(f"non-finite {name.replace('_', ' ')} at step {step}{where}")
