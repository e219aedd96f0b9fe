"""The thermal sweep's workflow settings as field tables, and the checks of a workflow config's values.

A workflow config holds three kinds of keys: the parameters of every job (the simulate table,
`tdlm.md.params.FIELDS`), the shapes of the sweep (grids, alpha forms: `tdlm.workflow_config`) and the
settings of the workflow itself, which are here: the families, the run's name, the grid's sample counts,
classification, refinement, the paper's figure set and the jobs' resources. Each is a `Field` (default, allowed values, help), so the workflow's schema, the
flags of `tdlm classify`/`refine-plan`/`boundaries`, config/README.md and the code that reads a config
take them from one place. The 1/e threshold and the refinement resolution are defined here only.

Why the values are read through `section()` rather than Snakemake's schema defaults: `tdlm sweep-check`
and the paper's cost estimate read a config without Snakemake, and must see the same defaults.
"""

from __future__ import annotations

import math
import re
from typing import Any

from tdlm.fields import ConfigError, Field, FieldSet, Rule, above, at_least, interval, limit_problem, one_of, read_yaml

# q*_l below it is liquid; a correlation's relaxation time tau_l is its first crossing (the paper's 1/e)
THRESHOLD = math.exp(-1)
# bracket width in ln alpha below which a phase boundary is resolved
RESOLUTION = 0.15
PHASE_L = 10  # the paper's phase diagram is drawn at L = 10
OVERLAPS = ("q_norm", "q")  # the classifying overlap: normalised (default) or raw
KINDS = ("layer", "onset")  # the boundaries refinement resolves

CLASSIFY = FieldSet(
    "classify",
    (
        Field("threshold", float, THRESHOLD, "q* below this is liquid (default 1/e)", interval(0, 1, "()")),
        Field(
            "n_sigma",
            float,
            2.0,
            "uncertain when the threshold is within n_sigma standard errors of q*",
            at_least(0, integer=False),
        ),
        Field("t_w", int, None, "waiting time to classify at (null: the largest)", at_least(0), nullable=True),
        Field(
            "overlap",
            str,
            OVERLAPS[0],
            "the overlap that classifies: normalised by the self-overlaps (q_norm; measures decorrelation) or "
            "raw (q; measures the spins' size too, docs/model.md); recorded in phase.nc",
            one_of(*OVERLAPS),
        ),
    ),
)

REFINE = FieldSet(
    "refine",
    (
        Field("rounds", int, 0, "rounds of adaptive refinement after the grid (0: the grid only)", at_least(0)),
        Field(
            "boundaries",
            list,
            list(KINDS),
            "what to resolve: where a layer's phase changes along ln alpha at fixed (L, T, layer), and the liquid "
            "onset (no liquid layer vs one) along ln alpha at fixed L and along L at fixed alpha",
            one_of(*KINDS),
            item=str,
            min_items=1,
            unique=True,
        ),
        Field(
            "resolution",
            float,
            RESOLUTION,
            "bracket width in ln alpha below which a boundary is resolved; along L, adjacent integers",
            above(0),
        ),
        Field(
            "max_samples",
            int,
            None,
            "sample budget of a point with an uncertain layer: samples_per_job more per round up to this "
            "(>= samples; null: no extra samples)",
            at_least(1),
            nullable=True,
        ),
        Field(
            "vary",
            str,
            None,
            "what a new alpha point varies when its neighbours share neither M nor N (null: M)",
            one_of("M", "N"),
            nullable=True,
        ),
    ),
)


def _point(default_rule: str) -> tuple[Field, ...]:
    """The coordinates of a point a paper figure draws; a missing (null) one follows `default_rule`."""
    return (
        Field("M", int, None, f"training examples ({default_rule})", at_least(1), nullable=True),
        Field("N", int, None, f"hidden width ({default_rule})", at_least(1), nullable=True),
        Field("L", int, None, f"depth ({default_rule})", at_least(2), nullable=True),
        Field("T", float, None, f"temperature ({default_rule})", at_least(0, integer=False), nullable=True),
    )


# the optional `paper:` section (workflow/rules/paper.smk, tdlm.paper.workflow)
PAPER = FieldSet(
    "paper",
    (
        Field("phase_L", int, PHASE_L, "depth of the phase-diagram heat map (the nearest L if absent)", at_least(2)),
        *FieldSet("", _point("missing: lowest T, L nearest phase_L, median alpha")).under("reference"),
        *FieldSet("", _point("missing: lowest T, largest L there, median alpha")).under("design"),
        Field(
            "design.layers",
            list,
            None,
            "layers of the design-space analysis (null: a liquid and a solid layer from phase.nc)",
            at_least(1),
            item=int,
            nullable=True,
        ),
        Field("design.t_w", int, None, "waiting time of the design space (null: the largest t_w)", at_least(0), nullable=True),
        Field("design.bins", int, 40, "histogram bins of the design space", at_least(1)),
        Field("cost.print", bool, True, "print the cost estimate (tdlm cost) while the workflow is parsed"),
        *(
            Field(f"cost.{name}", float, None, f"{what} (null: the documented assumption of tdlm cost)", rule, nullable=True)
            for name, what, rule in (
                ("step_rate", "MD steps per second of one job", above(0)),
                ("flops_rate", "FLOP/s of one job", above(0)),
                ("step_latency", "seconds per batched MD step at least", at_least(0, integer=False)),
            )
        ),
    ),
)

# a job's resources (thermal simulate jobs, binary points); required: the base config/config.yaml sets them
RESOURCE_FIELDS = (
    Field("threads", int, None, "CPU threads of a job (also torch's thread count)", at_least(1)),
    Field("mem_mb", int, None, "memory of a job (MB), multiplied by the attempt number on retries", at_least(1)),
    Field("runtime", int, None, "wall time of a job (minutes), multiplied by the attempt number on retries", at_least(1)),
)

# folder names only: results/<run>/ must stay inside results/
RUN = Rule(
    "one folder name (letters, digits, _.-), not . or ..",
    lambda v: re.fullmatch(r"(?!\.\.?$)[A-Za-z0-9_.-]+", v) is not None,
    {"pattern": r"^(?!\.\.?$)[A-Za-z0-9_.-]+$"},
)

FAMILY = Field(
    "families",
    list,
    ["thermal"],
    "model families to run: the thermal machine and/or SGD-trained binary networks (config/binary.yaml)",
    one_of("thermal", "binary"),
    item=str,
    min_items=1,
    unique=True,
)

# the sweep's own keys (the jobs' parameters are the simulate table's)
SWEEP = FieldSet(
    "workflow",
    (
        FAMILY,
        Field("run", str, None, "name of the output folder results/<run>/", RUN),
        Field("samples", int, None, "independent samples per point (indices 0..samples-1)", at_least(1)),
        Field("samples_per_job", int, 1, "samples batched into one simulate job (fills a GPU)", at_least(1)),
        Field(
            "T",
            float,
            None,
            "temperature of grids that give no T list (null: simulate's default T)",
            at_least(0, integer=False),
            nullable=True,
        ),
        *CLASSIFY.under("classify"),
        *REFINE.under("refine"),
        *PAPER.under("paper"),
        *FieldSet("", RESOURCE_FIELDS).under("resources.simulate"),
    ),
)


def section(config: dict[str, Any], fields: FieldSet) -> dict[str, Any]:
    """One section of a workflow config (`classify`, `refine`) with its defaults, checked: the values
    every reader of the config takes (the workflow at parse time, `tdlm sweep-check`, the cost estimate)."""
    clean, errors = fields.parse(fields.flatten(config.get(fields.what) or {}))
    if errors:
        raise ConfigError(f"invalid sweep config:\n  {fields.what}." + f"\n  {fields.what}.".join(errors))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in clean.items()}


def families(config: dict[str, Any]) -> list[str]:
    """The model families a config selects (validated by the schema)."""
    selected = config.get("families") if isinstance(config, dict) else None
    return list(FAMILY.default if selected is None else selected)


def refine_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The `refine` section with its defaults resolved (max_samples null: the grid's samples, no extra;
    vary null: M)."""
    settings = section(config, REFINE)
    settings["max_samples"] = settings["max_samples"] or config["samples"]
    settings["vary"] = settings["vary"] or "M"
    return settings


def classify_flags(config: dict[str, Any]) -> str:
    """The classification's flags of `tdlm classify` and `tdlm refine-plan` (t_w only when given)."""
    values = section(config, CLASSIFY)
    order = ("threshold", "n_sigma", "overlap", "t_w")  # the order of the flags of finished sweeps' rules
    return CLASSIFY.to_flags({k: values[k] for k in order if values[k] is not None})


def refine_flags(config: dict[str, Any]) -> str:
    """The refinement's flags of `tdlm refine-plan` and `tdlm boundaries`; new M are multiples of the
    number of classes (the balanced training set)."""
    settings = refine_settings(config)
    values = {k: settings[k] for k in ("boundaries", "resolution", "vary", "max_samples")}
    classes = len((config.get("data") or {}).get("classes", [0, 1]))
    return f"{REFINE.to_flags(values)} --m-step {classes}"


# ------------------------------------------------------------------------------------------------ config values


def check_config_files(configfiles: list) -> None:
    """Every config file the workflow loaded, the Snakefile's own `config/config.yaml` included, read with
    the loader that refuses a key given twice (Snakemake's loader silently keeps the last one)."""
    for path in configfiles or ():
        read_yaml(path, "configfile")


def check_run_named(configfiles: list, command_line: dict[str, Any]) -> None:
    """A sweep config given on top of the Snakefile's config/config.yaml must name its own `run`: else it
    would inherit the default's and write into results/default/ beside (or over) the default sweep. Every
    config file is read with the loader that refuses a key given twice."""
    data = [read_yaml(path, "--configfile") or {} for path in configfiles or ()]
    if not configfiles or "run" in command_line or any(isinstance(d, dict) and "run" in d for d in data):
        return
    names = ", ".join(map(str, configfiles))
    raise ConfigError(
        f"run: {names} does not set `run`; allowed values: a name for its results/<run>/ folder (letters, digits, _.-)"
    )


def config_value_errors(config: Any, where: str = "") -> list[str]:
    """Every value of a workflow config that no field may take, wherever it is: not finite, an integer
    beyond int64, an empty string (`tdlm.fields.limit_problem`, the rule of every field of the field tables:
    a JSON schema's `minimum` is false for NaN, so NaN passes it), and a `run` that is not one folder name."""
    if isinstance(config, dict):
        errors = [e for key, value in config.items() for e in config_value_errors(value, f"{where}{key}.")]
        run = config.get("run") if not where else None
        if isinstance(run, str) and (run in (".", "..") or "/" in run or "\\" in run):
            errors.append(f"run: got {run!r}; allowed values: {RUN.allowed}")
        return errors
    if isinstance(config, list):
        return [e for i, value in enumerate(config) for e in config_value_errors(value, f"{where[:-1]}[{i}].")]
    problem = limit_problem(config)
    return [f"{where[:-1]}: got {config!r}: {problem}"] if problem else []


# a number in exponent form without a dot (`1e-5`, `5e5`): YAML 1.1 (PyYAML, Snakemake) reads it as text
EXPONENT_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def coerce_exponents(config: Any, top: bool = True) -> Any:
    """`config` with every text in exponent form (`EXPONENT_NUMBER`) turned into a float, changed in place
    (Snakemake's `config` is a global the workflow must keep). Everywhere, not only where the schema
    expects a number: no string field takes such text except `run`, a folder name, which is left as is;
    text such as `1e-5x` or `e5` stays text, so the schema still names it."""
    if isinstance(config, dict):
        for k, value in config.items():
            config[k] = value if k == "run" and top else coerce_exponents(value, top=False)
    elif isinstance(config, list):
        config[:] = [coerce_exponents(value, top=False) for value in config]
    elif isinstance(config, str) and EXPONENT_NUMBER.match(config):
        return float(config)
    return config


def check_config_values(config: dict[str, Any]) -> None:
    """`config_value_errors` as one ConfigError (the workflow calls it at parse time, before the schema)."""
    errors = config_value_errors(config)
    if errors:
        raise ConfigError("invalid sweep config:\n  " + "\n  ".join(errors))


def schema_errors(config: dict[str, Any], schema_path: str) -> list[str]:
    """The workflow's JSON schema applied as Snakemake's validate() does: one line per violation, named by
    its key path, with what is allowed there (the keys of a mapping, or the schema's description) instead
    of the whole schema that Snakemake prints."""
    import jsonschema

    schema = read_yaml(schema_path, "--schema")
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '<top level>'}: {e.message}{_allowed(e)}" for e in errors]


def _allowed(error: Any) -> str:
    """What the schema allows where `error` (a jsonschema ValidationError) is, as a short suffix."""
    if error.validator == "additionalProperties":
        return "; allowed keys: " + ", ".join(error.schema.get("properties", {}))
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    return f"; {description}" if description else ""


def check_schema(config: dict[str, Any], schema_path: str) -> None:
    """`schema_errors` as one short ConfigError with the hint to `tdlm sweep-check` (the workflow calls it
    when Snakemake's validate() fails, whose message is the whole schema)."""
    errors = schema_errors(config, schema_path)
    if errors:
        raise ConfigError(
            "sweep config does not match the schema:\n  "
            + "\n  ".join(errors)
            + "\n(`tdlm sweep-check my.yaml` runs the same checks without Snakemake)"
        ) from None
