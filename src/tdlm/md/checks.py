"""Physical-range checks of the MD state and its records: a diverging run (dt or T too large) raises
Divergence, naming the step and the layer, before a bad state reaches a checkpoint or a job file."""

from __future__ import annotations

import torch

from tdlm.md.layout import Layout

DIVERGENCE_CHECK_STEPS = 1000  # steps between checks of the running state outside records and checkpoints

# observables bounded by 1 in absolute value (Cauchy-Schwarz for the normalised ones, |x| <= 1 for the raw
# ones); float rounding of the normalised sums stays far inside this tolerance
BOUNDED = ("c", "c_norm", "C", "C_norm", "q", "q_norm", "Q", "Q_norm", "q_test")
BOUND_TOLERANCE = 1e-4


class Divergence(RuntimeError):
    """NaN or Inf appeared; the message names the step and the first bad layer."""


def check_energies(step: int, energies: torch.Tensor) -> None:
    """Raise Divergence naming the step and the first layer whose energy is not finite."""
    bad = ~torch.isfinite(energies)
    if bad.any():
        layer = int(bad.reshape(-1, energies.shape[-1]).any(0).nonzero()[0]) + 1
        raise Divergence(f"non-finite energy at step {step} in layer {layer}")


def check_positions(step: int, layout: Layout, position: torch.Tensor) -> None:
    """Raise Divergence naming the step and the first block (weights J_l or spins S_l) that is not finite
    or has left the box (-1, 1): the walls fold a coordinate back once per step, so a step longer than the
    box (a diverging run: dt or T too large) can leave it outside."""
    low, high = torch.aminmax(position)  # one pass, no state-sized temporary; NaN propagates
    if -1.0 <= float(low) and float(high) <= 1.0:
        return
    names = [("weights J", l) for l in range(1, layout.L + 1)] + [("spins S", l) for l in range(1, layout.L)]
    for (kind, l), block in zip(names, layout.blocks(position)):
        if not torch.isfinite(block).all():
            raise Divergence(f"non-finite position at step {step} in {kind}_{l} (layer {l})")
        size = float(block.abs().max())
        if size > 1.0:
            raise Divergence(
                f"coordinate out of the box at step {step} in {kind}_{l} (layer {l}): |x| = {size:.4g} > 1; "
                "a step moved it farther than the walls fold back (lower dt or T)"
            )


def check_observables(step: int, measured: dict[str, torch.Tensor]) -> None:
    """Raise Divergence when an overlap or correlation has |value| > 1 or the kinetic temperature is not
    finite: such a record cannot be physical and must never reach a file."""
    for name in BOUNDED:
        if name not in measured:
            continue
        values = measured[name]
        over = values.abs() > 1.0 + BOUND_TOLERANCE  # NaN (no such layer) compares False
        if over.any():
            layer = int(over.reshape(-1, values.shape[-1]).any(0).nonzero()[0]) + 1
            worst = float(values.abs().nan_to_num(0.0).max())
            raise Divergence(f"{name} out of its physical range at step {step} in layer {layer}: |{name}| = {worst:.4g} > 1")
    if "kinetic_temperature" in measured and not torch.isfinite(measured["kinetic_temperature"]).all():
        raise Divergence(f"non-finite kinetic temperature at step {step}")
