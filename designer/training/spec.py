"""Training options as saved in a project's ``training`` section, read strictly with defaults.

Loss and metrics left unset are inferred from the data's task, so a new project trains
sensibly without the user knowing Keras's loss names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from designer.graph.serialize import DocumentFormatError
from designer.training.recipes.options import recipe_options

SCHEDULES = ("constant", "step", "exponential", "cosine", "warmup_cosine", "plateau")
DEVICES = ("auto", "cpu", "gpu", "all_gpus")
BACKENDS = ("tensorflow", "jax", "torch")  # each is also the name of the package Keras imports for it


@dataclass
class TrainingSpec:
    optimizer: str = "adam"
    optimizer_args: dict[str, Any] = field(default_factory=dict)
    learning_rate: float = 1e-3
    schedule: str = "constant"  # how the learning rate changes over training, see SCHEDULES
    warmup_fraction: float = 0.1  # of all steps, for warmup_cosine
    epochs: int = 10
    batch_size: int = 32
    loss: str | None = None
    metrics: list[str] | None = None
    validation_split: float = 0.15
    test_split: float = 0.15
    early_stopping_patience: int | None = None
    gradient_clip: float | None = None
    class_weight: str | dict[str, float] | None = None  # "balanced", or {class name or index: weight}
    validation_freq: int = 1  # validate every this many epochs
    mixed_precision: bool = False  # float16 compute with float32 weights (on GPUs with tensor cores)
    seed: int = 0
    backend: str = "tensorflow"
    device: str = "auto"  # auto, cpu, gpu (the first), all_gpus (data parallel)
    jit_compile: bool | None = None  # None: Keras decides (XLA where it helps); False starts faster
    recipe: str = "supervised"  # or gan / vae: two blocks trained against each other, see training.recipes
    gan: dict[str, Any] = field(default_factory=dict)  # the gan recipe's options (block names, label smoothing)
    vae: dict[str, Any] = field(default_factory=dict)  # the vae recipe's options (block names, beta)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "training") -> TrainingSpec:
        known = {f.name: f for f in fields(cls)}
        for key in data:
            if key not in known:
                raise DocumentFormatError(f"{where}.{key}", f"unknown training option (known: {', '.join(known)})")
        spec = cls(**data)
        spec.check(where)
        return spec

    def check(self, where: str = "training") -> None:
        """Refuse values that cannot train, naming the option and what it accepts."""
        rules = [
            ("epochs", isinstance(self.epochs, int) and self.epochs >= 1, "a whole number ≥ 1"),
            ("batch_size", isinstance(self.batch_size, int) and self.batch_size >= 1, "a whole number ≥ 1"),
            ("learning_rate", isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0,
             "a positive number"),
            ("schedule", self.schedule in SCHEDULES, f"one of {', '.join(SCHEDULES)}"),
            ("validation_split", 0 <= self.validation_split < 1, "a fraction in [0, 1)"),
            ("test_split", 0 <= self.test_split < 1 and self.validation_split + self.test_split < 1,
             "a fraction in [0, 1) that leaves training data"),
            ("backend", self.backend in BACKENDS, "tensorflow, jax or torch"),
            ("device", self.device in DEVICES, f"one of {', '.join(DEVICES)}"),
            ("validation_freq", isinstance(self.validation_freq, int) and self.validation_freq >= 1,
             "a whole number ≥ 1"),
            ("class_weight", self.class_weight in (None, "balanced") or (isinstance(self.class_weight, dict) and all(
                isinstance(v, (int, float)) and v >= 0 for v in self.class_weight.values())),
             "'balanced' or an object of class → non-negative weight"),
        ]
        for name, ok, expected in rules:
            if not ok:
                raise DocumentFormatError(f"{where}.{name}", f"{getattr(self, name)!r} is not {expected}")
        recipe_options(self.recipe, {}, where)
        for recipe in ("gan", "vae"):
            if not isinstance(getattr(self, recipe), dict):
                raise DocumentFormatError(f"{where}.{recipe}", "needs an object of option → value")
            recipe_options(recipe, getattr(self, recipe), where)

    @property
    def recipe_options(self) -> dict[str, Any]:
        """The chosen recipe's options, defaults filled in (empty for supervised)."""
        return recipe_options(self.recipe, getattr(self, self.recipe, {}))

    def to_dict(self) -> dict[str, Any]:
        """Only what differs from the defaults, so project files stay short."""
        default = TrainingSpec()
        return {k: v for k, v in asdict(self).items() if v != getattr(default, k)}

    def loss_for(self, task: str, outputs: int) -> str:
        if self.loss:
            return self.loss
        if task == "classification":
            return "binary_crossentropy" if outputs == 1 else "sparse_categorical_crossentropy"
        return "mse"

    def metrics_for(self, task: str) -> list[str]:
        if self.metrics is not None:
            return self.metrics
        return ["accuracy"] if task == "classification" else ["mae"]

    def class_weights(self, y: Any, class_names: list[str]) -> dict[int, float] | None:
        """Keras's ``class_weight`` for these labels; classes may be named by name or by index."""
        if self.class_weight is None or not class_names:
            return None
        if self.class_weight == "balanced":
            import numpy as np
            from sklearn.utils.class_weight import compute_class_weight

            present = np.unique(y)
            weights = compute_class_weight("balanced", classes=present, y=y)
            return {int(c): float(w) for c, w in zip(present, weights, strict=True)}
        index = {name: i for i, name in enumerate(class_names)}
        weights = {}
        for key, value in dict(self.class_weight).items():
            i = index.get(key, int(key) if str(key).isdigit() else None)
            if i is None or i >= len(class_names):
                raise DocumentFormatError(f"training.class_weight.{key}", f"no such class (classes: "
                                          f"{', '.join(class_names)})")
            weights[i] = float(value)
        return {i: weights.get(i, 1.0) for i in range(len(class_names))}


def check_backend_installed(backend: str, where: str = "training.backend",
                            other: str = "--backend tensorflow") -> None:
    """A backend whose package is missing would fail in the worker after seconds, with a traceback: say
    which package to install (or ``other``, how to choose another backend) before starting one."""
    import importlib.util

    if importlib.util.find_spec(backend) is None:
        raise DocumentFormatError(where, f"the {backend} backend is not installed here: pip install {backend} "
                                  f"(or choose another backend, e.g. {other})")
