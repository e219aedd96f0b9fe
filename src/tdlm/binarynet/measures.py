"""Per-layer measures of the effective model and the full pipeline of one parameter point.

How liquid is a layer: fit a pairwise Ising model to the ensemble of its weight vectors and read
its entropy density s_l (Bethe), coupling strength (mean and max |J|), correlation strength
(mean |c_ij|, mean |m_i|) and the replica overlap Q_l = <(1/n) sum_i w_i^a w_i^b> between networks
of different runs. Every measure is taken on the raw ensemble and on the hidden-unit-aligned one; a
null control refits each block after shuffling every weight independently across networks (several
independent shuffles), which keeps the magnetisations, destroys all correlations, and so shows how
much apparent structure the finite ensemble alone produces. The phase of a block ("liquid_like",
"structured" or "undetermined") reads s_l against that floor (tdlm.binarynet.floor).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from tdlm.binarynet.align import align_ensemble
from tdlm.binarynet.config import network_widths, validate
from tdlm.binarynet.data import Split, load_split
from tdlm.binarynet.entropy import BetheResult, Jump, Landscape, bethe, detect_jump, entropy_landscape, random_bound
from tdlm.binarynet.floor import PHASE_FLAGS, Floor, classify, independent_entropy
from tdlm.binarynet.ising import IsingModel, fit_pseudolikelihood, metropolis, moments
from tdlm.binarynet.lrnet import LRNetConfig, accuracy, draw_binary, n_steps, train_lrnet
from tdlm.device import resolve_device
from tdlm.fields import ConfigError
from tdlm.progress import Progress
from tdlm.storage import device_provenance, provenance

log = logging.getLogger("tdlm.binarynet")

ENSEMBLES = ("raw", "aligned")
DIRECTIONS = ("up", "down")

# Conventions fixed in code (not options), recorded in every output file.
CONVENTIONS = {
    "alpha_convention": "alpha = (number of weights of the whole network) / P, P = M training examples (paper's convention)",
    "entropy_definition": "Shannon entropy per weight of the fitted Ising model, Bethe approximation by damped BP",
    "overlap_definition": "Q_l = mean over network pairs from different runs of (1/n_l) sum_i w_i^a w_i^b",
    "pseudolikelihood": "-(1/M) sum log P(s_i|rest) + pl_l2 sum_{i<j} J_ij^2 + pl_l2_h sum h_i^2, L-BFGS, full batch",
    "preactivation": "hidden layers LeakyReLU(z / sqrt(fan_in)); output z / sqrt(fan_in) if scale_output else z; no biases",
    "landscape": "tilt h_i -> h_i + x sigma_i, sigma = landscape_reference network; d = (1 - q)/2; s = Bethe entropy of the tilted model",
    "null_control": "each weight shuffled independently across networks (null_shuffles independent shuffles), then the same fit and Bethe entropy; mean and standard deviation over the shuffles",
    "phase_rule": "undetermined if BP did not converge; liquid_like: null >= 1 - null_tolerance and (s - null >= -null_z sd or s >= liquid_threshold); undetermined: else if s_independent - null > null_tolerance; else structured (s in units of ln 2)",
    "generated_accuracy": "mean test accuracy of networks assembled from independent Metropolis samples of each layer's fitted model",
}
# the shared provenance's title and references, for this family
FAMILY = {
    "title": "Binary-weight networks trained by SGD, analysed through fitted pairwise Ising models",
    "references": "arXiv:2007.08093 (2020)",
}


@dataclass(frozen=True)
class LayerMeasures:
    """Measures of one block (see module docstring); errors are mean absolute Metropolis-minus-data;
    the null fields (mean and standard deviation over the shuffles) are NaN when the null control is off."""

    entropy: float
    s_over_ln2: float
    bp_converged: bool
    mean_abs_J: float
    max_abs_J: float
    mean_abs_c: float
    mean_abs_m: float
    overlap_Q: float
    mc_err_m: float
    mc_err_C: float
    s_null_over_ln2: float
    s_null_sd: float
    s_independent_over_ln2: float
    mean_abs_J_null: float

    @property
    def floor(self) -> Floor:
        return Floor(self.s_over_ln2, self.s_null_over_ln2, self.s_null_sd, self.s_independent_over_ln2, bool(self.bp_converged))


def replica_overlap(samples: np.ndarray, run_ids: np.ndarray) -> float:
    """Mean over pairs of samples from different runs of (1/n) sum_i s_i^a s_i^b (O(M n), no pair loop)."""
    n = samples.shape[1]
    total = samples.sum(0)
    runs, inverse = np.unique(run_ids, return_inverse=True)
    per_run = np.zeros((len(runs), n))
    np.add.at(per_run, inverse, samples)
    counts = np.bincount(inverse)
    pairs = (len(samples) ** 2 - (counts**2).sum()) / 2
    if pairs == 0:
        raise ValueError("replica overlap needs samples from at least two runs")
    return float((total @ total - (per_run * per_run).sum()) / 2 / pairs / n)


def _upper(a: np.ndarray) -> np.ndarray:
    return a[np.triu_indices(len(a), 1)]


def fit_block(samples: np.ndarray, p: Mapping[str, Any]) -> IsingModel:
    """Pseudo-likelihood fit with the pl_* parameters of `p`."""
    return fit_pseudolikelihood(samples, p["pl_l2"], p["pl_l2_h"], p["pl_max_iter"], p["pl_tol"])


def _entropy(model: IsingModel, p: Mapping[str, Any]) -> BetheResult:
    return bethe(model, p["bp_damping"], p["bp_tol"], p["bp_max_iter"])


def layer_measures(
    samples: np.ndarray, run_ids: np.ndarray, p: Mapping[str, Any], seed: int
) -> tuple[LayerMeasures, IsingModel, np.ndarray]:
    """Fit one block's ensemble (M, n) and return its measures, the model and Metropolis samples of it."""
    m, C, c = moments(samples)
    model = fit_block(samples, p)
    bp = _entropy(model, p)
    mc = metropolis(model, p["mc_chains"], p["mc_burn_in"], p["mc_records"], p["mc_every"], seed=seed)
    mc_m, mc_C, _ = moments(mc.reshape(-1, model.n))
    rng = np.random.default_rng(seed)
    nulls = [fit_block(rng.permuted(samples, axis=0), p) for _ in range(p["null_shuffles"] if p["null_control"] else 0)]
    s_null = np.array([_entropy(null, p).entropy / np.log(2) for null in nulls])
    J_null = np.array([np.abs(_upper(null.J)).mean() for null in nulls])
    measures = LayerMeasures(
        entropy=bp.entropy,
        s_over_ln2=bp.entropy / np.log(2),
        bp_converged=bp.converged,
        mean_abs_J=float(np.abs(_upper(model.J)).mean()),
        max_abs_J=float(np.abs(model.J).max()),
        mean_abs_c=float(np.abs(_upper(c)).mean()),
        mean_abs_m=float(np.abs(m).mean()),
        overlap_Q=replica_overlap(samples, run_ids),
        mc_err_m=float(np.abs(mc_m - m).mean()),
        mc_err_C=float(np.abs(_upper(mc_C - C)).mean()),
        s_null_over_ln2=float(s_null.mean()) if nulls else np.nan,
        s_null_sd=float(s_null.std(ddof=1)) if nulls else np.nan,
        s_independent_over_ln2=independent_entropy(m),
        mean_abs_J_null=float(J_null.mean()) if nulls else np.nan,
    )
    return measures, model, mc[-1]


@dataclass(frozen=True)
class Trained:
    """The drawn binary networks (numpy, accepted only), their accuracies and run labels."""

    weights: list[np.ndarray]
    run_ids: np.ndarray
    test_accuracy: np.ndarray  # all networks, before the filter
    train_accuracy: np.ndarray
    accepted: np.ndarray


def train_and_draw(p: Mapping[str, Any], split: Split, cfg: LRNetConfig, device: torch.device) -> Trained:
    """Train the LR-net ensemble, draw binary networks, record accuracies and apply the acceptance filter."""
    x_train, y_train, x_test, y_test = (
        torch.as_tensor(a, device=device) for a in (split.x_train, split.y_train, split.x_test, split.y_test)
    )
    log.info(
        "training %d LR-nets %s on %d %s examples (device %s)",
        p["n_runs"],
        "->".join(map(str, cfg.widths)),
        split.n_train,
        p["data.source"],
        device,
    )
    progress = Progress("binary-simulate training", n_steps(cfg, split.n_train), every_seconds=5.0)
    thetas = train_lrnet(
        x_train, y_train, p["n_runs"], cfg, p["seed"], lambda step, total, loss: progress.update(step, force=step == total)
    )
    weights = draw_binary(thetas, p["draws_per_run"], p["seed"] + 1)
    test_acc = accuracy(weights, x_test, y_test, cfg).cpu().numpy()
    run_ids = np.repeat(np.arange(p["n_runs"]), p["draws_per_run"])
    keep = test_acc >= p["min_accuracy"]
    n_kept_runs = len(np.unique(run_ids[keep]))
    if n_kept_runs < 2:
        raise ConfigError(
            f"min_accuracy: only {keep.sum()} networks (from {n_kept_runs} runs) reach {p['min_accuracy']}; allowed values: "
            "a lower min_accuracy leaving networks from >= 2 runs"
        )
    if keep.sum() <= p["landscape_reference"]:
        raise ConfigError(
            f"landscape_reference: got {p['landscape_reference']} but only {keep.sum()} networks reach min_accuracy "
            f"{p['min_accuracy']}; allowed values: < {keep.sum()}"
        )
    log.info(
        "test accuracy mean %.3f (min %.3f, max %.3f); %d of %d networks accepted",
        test_acc.mean(),
        test_acc.min(),
        test_acc.max(),
        keep.sum(),
        len(keep),
    )
    return Trained(
        weights=[w.cpu().numpy().astype(np.float64)[keep] for w in weights],
        run_ids=run_ids[keep],
        test_accuracy=test_acc,
        train_accuracy=accuracy(weights, x_train, y_train, cfg).cpu().numpy(),
        accepted=keep,
    )


def measure_ensemble(
    blocks: Sequence[np.ndarray], run_ids: np.ndarray, p: Mapping[str, Any], seed: int, xs: np.ndarray
) -> tuple[list[LayerMeasures], list[Landscape], list[Jump], list[np.ndarray]]:
    """Per block: measures, entropy landscape, its jump summary, and Metropolis samples shaped like the block."""
    results: tuple[list, list, list, list] = ([], [], [], [])
    for layer, block in enumerate(blocks):
        samples = block.reshape(len(block), -1)
        measures, model, mc = layer_measures(samples, run_ids, p, seed=seed + layer)
        ls = entropy_landscape(model, samples[p["landscape_reference"]], xs, p["bp_damping"], p["bp_tol"], p["bp_max_iter"])
        jump = detect_jump(ls, p["jump_threshold"], p["hysteresis_threshold"])
        log.info(
            "layer %d: s/ln2 %.3f (null %.3f +- %.3f, independent %.3f) mean|J| %.4f Q %.3f jump %s",
            layer + 1,
            measures.s_over_ln2,
            measures.s_null_over_ln2,
            measures.s_null_sd,
            measures.s_independent_over_ln2,
            measures.mean_abs_J,
            measures.overlap_Q,
            jump.detected,
        )
        for out, item in zip(results, (measures, ls, jump, mc.reshape(-1, *block.shape[1:]))):
            out.append(item)
    return results


def run_effective_model(params: Mapping[str, Any]) -> xr.Dataset:
    """train -> draw -> filter -> align -> per-layer fit and measures -> entropy landscapes, as one Dataset.

    `params` is validated first (see config.FIELDS); every parameter and convention lands in attrs.
    """
    t0 = time.monotonic()
    p = validate(params)
    device = resolve_device(p["device"])
    split = load_split(p["data.source"], p["M"], p["n_test"], p["n_components"], p["data_seed"], p["pca_fit"], p["data.path"])
    widths = network_widths(p, split.n_classes)
    cfg = LRNetConfig(
        tuple(widths), p["leaky_slope"], p["scale_output"], p["epochs"], p["lr"], p["batch_size"], p["l2"], p["init_std"]
    )
    trained = train_and_draw(p, split, cfg, device)
    ensembles = {"raw": trained.weights, "aligned": align_ensemble(trained.weights, p["align_reference"])}
    xs = np.linspace(p["landscape_x_min"], p["landscape_x_max"], p["landscape_n_x"])
    x_test, y_test = torch.as_tensor(split.x_test, device=device), torch.as_tensor(split.y_test, device=device)

    per_ensemble = {}
    for e, name in enumerate(ENSEMBLES):
        if name == "aligned" and all(np.array_equal(a, b) for a, b in zip(ensembles["raw"], ensembles["aligned"])):
            per_ensemble[name] = per_ensemble["raw"]  # nothing to align (L = 1): same fits, same numbers
            continue
        log.info("%s ensemble", name)
        measures, landscapes, jumps, generated = measure_ensemble(ensembles[name], trained.run_ids, p, p["seed"] + 100 * e, xs)
        gen_acc = float(
            accuracy([torch.as_tensor(g, dtype=torch.float32, device=device) for g in generated], x_test, y_test, cfg).mean()
        )
        per_ensemble[name] = (measures, landscapes, jumps, gen_acc)

    ds = _dataset(per_ensemble, trained, widths, xs, p)
    ds.attrs.update(
        {
            "P": split.n_train,
            "n_test_used": len(split.y_test),
            "n_classes": split.n_classes,
            "pca_explained_variance": split.explained_variance,
            "device_used": str(device),
            **device_provenance(device),
            "wall_time_s": time.monotonic() - t0,
        }
    )
    return ds


def _stack(per_ensemble: dict, index: int, field: str) -> np.ndarray:
    """Array (ensemble, layer, ...) of one field of the per-layer results at position `index` of each tuple."""
    return np.array(
        [[np.asarray(getattr(item, field), dtype=np.float64) for item in per_ensemble[name][index]] for name in ENSEMBLES]
    )


def _dataset(per_ensemble: dict, trained: Trained, widths: Sequence[int], xs: np.ndarray, p: Mapping[str, Any]) -> xr.Dataset:
    n_layers = len(widths) - 1
    n_weights = [a * b for a, b in zip(widths[:-1], widths[1:])]
    el, elx = ("ensemble", "layer"), ("ensemble", "layer", "direction", "x")
    data_vars: dict[str, Any] = {name: (el, _stack(per_ensemble, 0, name)) for name in LayerMeasures.__dataclass_fields__}
    data_vars["bp_converged"] = (el, _stack(per_ensemble, 0, "bp_converged").astype(np.int8))
    floors = [[item.floor for item in per_ensemble[name][0]] for name in ENSEMBLES]
    data_vars["null_z"] = (
        el,
        np.array([[f.z for f in row] for row in floors]),
        {"long_name": "(s_over_ln2 - s_null_over_ln2) / s_null_sd"},
    )
    data_vars["phase"] = (
        el,
        np.array(
            [[classify(f, p["liquid_threshold"], p["null_tolerance"], p["null_z"]) for f in row] for row in floors],
            dtype=np.int8,
        ),
        {
            "flag_values": np.array(list(PHASE_FLAGS.values()), dtype=np.int8),
            "flag_meanings": " ".join(PHASE_FLAGS),
            "long_name": CONVENTIONS["phase_rule"],
        },
    )
    d = _stack(per_ensemble, 1, "d")
    data_vars.update(
        {
            "jump_detected": (el, _stack(per_ensemble, 2, "detected").astype(np.int8)),
            "jump_size": (el, _stack(per_ensemble, 2, "size"), {"long_name": "largest step of d between neighbouring x"}),
            "jump_x": (el, _stack(per_ensemble, 2, "x"), {"long_name": "x at the largest step"}),
            "hysteresis": (el, _stack(per_ensemble, 2, "hysteresis"), {"long_name": "max |d_up - d_down|"}),
            "landscape_d": (elx, d, {"long_name": "distance (1 - q)/2 to the reference"}),
            "landscape_s": (
                elx,
                _stack(per_ensemble, 1, "s"),
                {"long_name": "entropy per weight of the tilted model", "units": "nats"},
            ),
            "landscape_random_bound": (elx, random_bound(d), {"long_name": "-d ln d - (1-d) ln(1-d)", "units": "nats"}),
            "landscape_converged": (elx, _stack(per_ensemble, 1, "converged").astype(np.int8)),
            "generated_accuracy": (("ensemble",), np.array([per_ensemble[name][3] for name in ENSEMBLES])),
            "n_weights": (("layer",), np.array(n_weights)),
            "test_accuracy": (("network",), trained.test_accuracy),
            "train_accuracy": (("network",), trained.train_accuracy),
            "accepted": (("network",), trained.accepted.astype(np.int8)),
            "run": (("network",), np.repeat(np.arange(p["n_runs"]), p["draws_per_run"])),
        }
    )
    coords = {
        "ensemble": list(ENSEMBLES),
        "layer": np.arange(1, n_layers + 1),
        "direction": list(DIRECTIONS),
        "x": xs,
        "network": np.arange(len(trained.accepted)),
    }
    attrs = provenance(
        dict(p),
        {
            **FAMILY,
            **CONVENTIONS,
            "widths_used": list(widths),
            "n_weights_total": sum(n_weights),
            "alpha": sum(n_weights) / p["M"],
            "n_accepted": int(trained.accepted.sum()),
        },
    )
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
