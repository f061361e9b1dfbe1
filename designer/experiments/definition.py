"""An experiment as saved in a project's ``experiments`` section, and its hyperparameters.

A hyperparameter binds a key to a set of values. Keys are ``training.OPTION`` (any training
option; ``training.gan.OPTION`` and ``training.vae.OPTION`` for a recipe's, e.g. ``training.vae.beta``),
``LAYER.PARAM`` (a parameter of the layer or block of that name, nested blocks included) or
``LAYER.enabled`` (``false`` bypasses a one-input, one-output layer or block).
Values are written as on the command line: a list ``a,b,c`` (or a JSON list for tuples,
``[[3,3],[5,5]]``), ``int:LOW:HIGH``, ``float:LOW:HIGH`` or ``log:LOW:HIGH`` (log-uniform).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from designer.experiments import compression
from designer.graph.document import NetworkDocument
from designer.graph.serialize import DocumentFormatError
from designer.training.recipes.options import DEFAULTS
from designer.training.spec import TrainingSpec

STRATEGIES = ("grid", "random", "bayesian")
SAMPLERS = ("tpe", "gp")  # the Bayesian strategy's model: Optuna's TPE, or its Gaussian process (needs PyTorch)
PRUNERS = ("none", "median", "hyperband")
RANGES = ("int", "float", "log")
GRID_RANGE_LIMIT = 100  # an int range enumerates for the grid up to this many values
# Metrics where more is better; anything else (losses, errors) is minimised unless the direction says so.
_HIGHER_IS_BETTER = ("accuracy", "auc", "precision", "recall", "f1", "r2", "iou",
                     "quality", "confidence", "agreement", "entropy")  # the last four: a judge's sample scores


@dataclass(frozen=True)
class Hyperparameter:
    key: str
    kind: str  # "choice" or one of RANGES
    values: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0

    @property
    def target(self) -> str:
        """``training`` or the layer's name."""
        return self.key.split(".", 1)[0]

    @property
    def option(self) -> str:
        return self.key.split(".", 1)[1]

    def grid_values(self) -> list[Any]:
        """Every value the grid visits; a float range has none to enumerate."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "int" and self.high - self.low < GRID_RANGE_LIMIT:
            return list(range(int(self.low), int(self.high) + 1))
        raise DocumentFormatError(self.key, f"the grid cannot enumerate {self.text()}; give a list of values "
                                  "(a,b,c) or use the random or bayesian strategy")

    def text(self) -> str:
        """The value set as written on the command line."""
        if self.kind != "choice":
            return f"{self.kind}:{_number(self.low)}:{_number(self.high)}"
        if all(isinstance(v, (int, float, str)) and (not isinstance(v, str) or "," not in v) for v in self.values):
            return ",".join(json.dumps(v) if isinstance(v, bool) else str(v) for v in self.values)
        return json.dumps(list(self.values))

    def suggest(self, trial: Any) -> Any:
        """This hyperparameter's value for an Optuna trial."""
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high))
        if self.kind in ("float", "log"):
            return trial.suggest_float(self.key, self.low, self.high, log=self.kind == "log")
        if all(v is None or isinstance(v, (bool, int, float, str)) for v in self.values):
            return trial.suggest_categorical(self.key, list(self.values))
        # Optuna's choices are plain scalars: a tuple such as a kernel size travels as its JSON text.
        return json.loads(trial.suggest_categorical(self.key, [json.dumps(v) for v in self.values]))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def _scalar(text: str) -> Any:
    """``16`` → 16, ``0.5`` → 0.5, ``true`` → True, ``adam`` → "adam"."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_hyperparameter(key: str, spec: str) -> Hyperparameter:
    """One ``KEY=SPEC`` pair; a ``DocumentFormatError`` naming the key and the accepted forms otherwise."""
    key, spec = key.strip(), str(spec).strip()
    if key.count(".") < 1 or not all(key.split(".", 1)):
        raise DocumentFormatError(key or "--param", "the key must be training.OPTION or LAYER.PARAM "
                                  "(e.g. training.learning_rate, hidden.units, drop.rate)")
    head = spec.split(":", 1)[0]
    if head in RANGES:
        parts = spec.split(":")
        try:
            low, high = (float(p) for p in parts[1:])
        except ValueError:
            raise DocumentFormatError(key, f"{spec!r}: a range is {head}:LOW:HIGH with two numbers") from None
        if not low < high or (head == "log" and low <= 0) or not all(map(math.isfinite, (low, high))):
            raise DocumentFormatError(key, f"{spec!r}: need LOW < HIGH" + (", both > 0" if head == "log" else ""))
        if head == "int" and not (low.is_integer() and high.is_integer()):
            raise DocumentFormatError(key, f"{spec!r}: an int range takes whole numbers")
        return Hyperparameter(key, head, low=low, high=high)
    if spec.startswith("["):
        try:
            values = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise DocumentFormatError(key, f"{spec!r} is not a JSON list ({exc.msg})") from None
    else:
        values = [_scalar(v.strip()) for v in spec.split(",") if v.strip()]
    if not isinstance(values, list) or not values:
        raise DocumentFormatError(key, "give at least one value: a,b,c, a JSON list, int:LOW:HIGH, float:LOW:HIGH "
                                  "or log:LOW:HIGH")
    values = [tuple(v) if isinstance(v, list) else v for v in values]
    if len(set(map(repr, values))) != len(values):
        raise DocumentFormatError(key, f"{spec!r} lists a value twice")
    return Hyperparameter(key, "choice", values=tuple(values))


def parse_assignment(text: str) -> Hyperparameter:
    """``KEY=SPEC`` as given to ``--param``."""
    if "=" not in text:
        raise DocumentFormatError("--param", f"{text!r}: write KEY=SPEC, e.g. hidden.units=16,32,64")
    key, spec = text.split("=", 1)
    return parse_hyperparameter(key, spec)


@dataclass
class Experiment:
    """A sweep over a project: what varies, how values are chosen, what counts as better, how much to spend."""

    name: str = "experiment"
    params: dict[str, str] = field(default_factory=dict)  # key → value set, as written on the command line
    strategy: str = "random"
    sampler: str = "tpe"
    trials: int | None = None  # None: the whole grid, or 10 for the other strategies
    timeout_s: float | None = None
    workers: int = 1
    objective: str = "val_loss"
    direction: str | None = None  # minimize / maximize; None: from the metric's name
    pruner: str = "none"
    seed: int = 0
    description: str = ""
    # A running trial tells the study it is alive this often; one silent for three of these (its sweep's
    # machine died) is run again by whichever sweep of the study notices. Every sweep of a study should agree.
    heartbeat_s: float = 10.0

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Experiment:
        where = f"experiments.{name}"
        known = {f.name for f in fields(cls)} - {"name"}
        for key in data:
            if key not in known:
                raise DocumentFormatError(f"{where}.{key}",
                                          f"unknown experiment field (known: {', '.join(sorted(known))})")
        experiment = cls(name=name, **data)
        experiment.check(where)
        return experiment

    def to_dict(self) -> dict[str, Any]:
        defaults = Experiment()
        return {k: v for k, v in asdict(self).items() if k != "name" and (v != getattr(defaults, k) or k == "params")}

    def check(self, where: str = "experiment") -> None:
        rules = [
            ("strategy", self.strategy in STRATEGIES, f"one of {', '.join(STRATEGIES)}"),
            ("sampler", self.sampler in SAMPLERS, f"one of {', '.join(SAMPLERS)}"),
            ("pruner", self.pruner in PRUNERS, f"one of {', '.join(PRUNERS)}"),
            ("trials", self.trials is None or (isinstance(self.trials, int) and self.trials >= 1),
             "a whole number ≥ 1"),
            ("timeout_s", self.timeout_s is None or (isinstance(self.timeout_s, (int, float)) and self.timeout_s > 0),
             "a positive number of seconds"),
            ("workers", isinstance(self.workers, int) and self.workers >= 1, "a whole number ≥ 1"),
            ("heartbeat_s", isinstance(self.heartbeat_s, (int, float)) and self.heartbeat_s >= 1,
             "a number of seconds ≥ 1"),
            ("direction", self.direction in (None, "minimize", "maximize"), "minimize or maximize"),
            ("objective", isinstance(self.objective, str) and bool(self.objective), "a metric name such as val_loss"),
            ("params", isinstance(self.params, dict) and bool(self.params),
             "at least one hyperparameter, e.g. {\"hidden.units\": \"16,32,64\"}"),
        ]
        for name, ok, expected in rules:
            if not ok:
                raise DocumentFormatError(f"{where}.{name}", f"{getattr(self, name)!r} is not {expected}")
        self.hyperparameters()

    def hyperparameters(self) -> list[Hyperparameter]:
        return [parse_hyperparameter(key, spec) for key, spec in self.params.items()]

    @property
    def maximize(self) -> bool:
        if self.direction is not None:
            return self.direction == "maximize"
        return any(word in self.objective.lower() for word in _HIGHER_IS_BETTER)

    def budget(self) -> int:
        """How many trials the study holds when done: the grid's size caps a grid."""
        if self.strategy == "grid":
            size = math.prod(len(h.grid_values()) for h in self.hyperparameters())
            return min(size, self.trials or size)
        return self.trials or 10


def check_bindings(experiment: Experiment, document: NetworkDocument, catalog: Any = None) -> None:
    """Every key names a training option or a layer (and, given the catalog, one of its parameters)."""
    options = {f.name for f in fields(TrainingSpec)}
    nodes = {node.name: node for _, node in document.walk()}
    for h in experiment.hyperparameters():
        if h.target == compression.KEY:
            compression.check(h.key, h.option, h.kind, h.values, h.low, h.high)
            continue
        if h.target == "training":
            recipe, _, name = h.option.partition(".")
            if name and recipe in DEFAULTS:  # a recipe's option: training.gan.label_smoothing, training.vae.beta
                if name not in DEFAULTS[recipe]:
                    raise DocumentFormatError(h.key, f"no {recipe} option {name!r} (known: "
                                              f"{', '.join(DEFAULTS[recipe])})")
                continue
            if h.option not in options:
                raise DocumentFormatError(h.key, f"no training option {h.option!r} "
                                          f"(known: {', '.join(sorted(options))})")
            continue
        node = nodes.get(h.target)
        if node is None:
            raise DocumentFormatError(h.key, f"no layer named {h.target!r} in the network "
                                      f"(layers: {', '.join(sorted(nodes)[:12])}{'…' if len(nodes) > 12 else ''})")
        if h.option == "enabled":
            if any(v not in (True, False) for v in h.values) or h.kind != "choice":
                raise DocumentFormatError(h.key, "enabled takes true,false")
            continue
        if node.is_block:
            raise DocumentFormatError(h.key, f"{h.target!r} is a block: sweep its layers' parameters by their own "
                                      "names, or switch it with .enabled")
        if catalog is not None and node.type in catalog and catalog[node.type].param(h.option) is None:
            known = ", ".join(p.name for p in catalog[node.type].params)
            raise DocumentFormatError(h.key, f"{node.type} has no parameter {h.option!r} (it has: {known})")
