"""The training options dialog: the recipe (supervised, GAN, VAE) with its options, then one editor per
field of the training spec, with its default and a tooltip; values the spec refuses are shown with the
reason and not accepted."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from designer.app.generative.recipe_editor import Check, RecipeEditor
from designer.graph.serialize import DocumentFormatError
from designer.training.spec import DEVICES, SCHEDULES, TrainingSpec

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam", "adamax", "adagrad", "adadelta", "lion", "ftrl")
CHOICES: dict[str, tuple[str, ...]] = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES,
                                       "backend": ("tensorflow", "jax", "torch"), "device": DEVICES}
HELP = {
    "optimizer": "The Keras optimizer",
    "optimizer_args": "Further arguments of the optimizer, as 'name: value, name: value'",
    "learning_rate": "The starting learning rate",
    "schedule": "How the learning rate changes: constant, step (÷10 at ½ and ¾), exponential, cosine, "
                "warmup + cosine, or reduce on plateau",
    "warmup_fraction": "For warmup + cosine: the share of all steps spent warming up",
    "epochs": "Passes over the training data", "batch_size": "Samples per gradient step",
    "loss": "A Keras loss name; empty: inferred from the data (classification or regression)",
    "metrics": "Comma-separated Keras metric names; empty: accuracy for classifiers, MAE otherwise",
    "validation_split": "Share of the data held out for validation (stratified)",
    "test_split": "Share of the data held out for the final test",
    "early_stopping_patience": "Stop after this many epochs without a better validation loss (0: never)",
    "gradient_clip": "Clip gradients to this norm (0: no clipping)", "seed": "Seed for splits and initial weights",
    "backend": "The Keras backend the worker trains with",
    "device": "auto: a GPU if there is one; cpu; gpu: the first GPU; all_gpus: data parallel over every GPU",
    "class_weight": "Empty: every class weighs the same; 'balanced': inversely to class frequency; "
                    "or 'name: weight, name: weight'",
    "validation_freq": "Validate every this many epochs", "mixed_precision": "float16 compute (GPUs with tensor cores)",
    "jit_compile": "Compile with XLA: faster steps, slower start",
}
RECIPE_FIELDS = ("recipe", "gan", "vae")  # edited together by the recipe editor


class TrainingOptionsDialog(QDialog):
    def __init__(self, training: dict[str, Any], parent: QWidget | None = None, blocks: list[str] | None = None,
                 check: Check | None = None, drawn: dict[str, int | None] | None = None) -> None:
        """``blocks``: the network's block names, offered for the recipe's parts; ``check`` says what
        analysis finds wrong with a recipe's blocks; ``drawn``: each recipe's latent size as drawn."""
        super().__init__(parent)
        self.setWindowTitle("Training options")
        spec = TrainingSpec.from_dict(training)
        self.editors: dict[str, QWidget] = {}
        self.recipe = RecipeEditor(training, blocks or [], check, drawn=drawn)
        form = QFormLayout()
        form.addRow("recipe", self.recipe)
        for f in fields(TrainingSpec):
            if f.name in RECIPE_FIELDS:
                continue
            editor = self._editor(f.name, getattr(spec, f.name), getattr(TrainingSpec(), f.name))
            editor.setToolTip(HELP.get(f.name, ""))
            self.editors[f.name] = editor
            form.addRow(f.name.replace("_", " "), editor)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #c62828")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _editor(self, name: str, value: Any, default: Any) -> QWidget:
        if name in CHOICES:
            box = QComboBox()
            box.addItems(list(CHOICES[name]))
            box.setCurrentText(str(value))
            return box
        if name == "jit_compile":
            box = QComboBox()
            box.addItems(["auto", "on", "off"])
            box.setCurrentText({None: "auto", True: "on", False: "off"}[value])
            return box
        if isinstance(default, bool):
            check = QCheckBox()
            check.setChecked(bool(value))
            return check
        if name in ("epochs", "batch_size", "seed", "early_stopping_patience", "validation_freq"):
            spin = QSpinBox(maximum=1_000_000, minimum=0 if name in ("seed", "early_stopping_patience") else 1)
            spin.setValue(int(value or 0))
            return spin
        if isinstance(default, float) or name == "gradient_clip":
            spin = QDoubleSpinBox(decimals=6, maximum=1e6, singleStep=0.05 if "split" in name else 0.0001)
            spin.setValue(float(value or 0))
            return spin
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        text = QLineEdit(", ".join(value) if isinstance(value, list) else (value or ""))
        text.setPlaceholderText("e.g. beta_1: 0.9, weight_decay: 0.004" if name == "optimizer_args"
                                else "inferred from the data")
        return text

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QComboBox):
                text = editor.currentText()
                out[name] = {"auto": None, "on": True, "off": False}[text] if name == "jit_compile" else text
            elif isinstance(editor, QCheckBox):
                out[name] = editor.isChecked()
            elif isinstance(editor, QSpinBox):
                out[name] = editor.value() or (None if name == "early_stopping_patience" else 0)
            elif isinstance(editor, QDoubleSpinBox):
                out[name] = editor.value() or (None if name == "gradient_clip" else 0.0)
            elif isinstance(editor, QLineEdit):
                out[name] = _parse_text(name, editor.text().strip())
        return TrainingSpec.from_dict({**out, **self.recipe.values()}).to_dict()

    def restore_defaults(self) -> None:
        """Every option but the recipe, which says what the network is rather than how to tune it."""
        form = self.layout().itemAt(0).layout()
        defaults = TrainingSpec()
        for name, editor in list(self.editors.items()):
            fresh = self._editor(name, getattr(defaults, name), getattr(defaults, name))
            fresh.setToolTip(HELP.get(name, ""))
            form.replaceWidget(editor, fresh)
            editor.deleteLater()
            self.editors[name] = fresh

    def accept(self) -> None:
        try:
            values = self.values()
            self._check_optimizer(values)
        except DocumentFormatError as exc:
            self.error.setText(str(exc))
            return
        super().accept()

    @staticmethod
    def _check_optimizer(values: dict[str, Any]) -> None:
        """Keras itself says whether the optimizer takes these arguments (it is loaded by now)."""
        import keras

        spec = TrainingSpec.from_dict(values)
        try:
            keras.optimizers.get({"class_name": spec.optimizer, "config": dict(spec.optimizer_args)})
        except (TypeError, ValueError) as exc:
            raise DocumentFormatError("training.optimizer_args", f"{spec.optimizer} refuses them: {exc}") from None


def _parse_text(name: str, text: str) -> Any:
    """Free-text options: metric lists and class weights; ``DocumentFormatError`` names a bad entry."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if name == "metrics":
        return items or None
    if name == "optimizer_args":
        return _pairs(name, items, "beta_1: 0.9")
    if name == "class_weight" and text and text != "balanced":
        return {key: float(value) for key, value in _pairs(name, items, "cat: 2").items()}
    return text or None


def _pairs(name: str, items: list[str], example: str) -> dict[str, Any]:
    """'key: value' items; values read as JSON (numbers, true/false) where they can be, else as text."""
    import json

    pairs: dict[str, Any] = {}
    for item in items:
        key, colon, value = item.partition(":")
        if not colon or not key.strip():
            raise DocumentFormatError(f"training.{name}.{key.strip() or item}",
                                      f"write 'name: value', e.g. '{example}'")
        try:
            pairs[key.strip()] = json.loads(value.strip())
        except json.JSONDecodeError:
            pairs[key.strip()] = value.strip()
    if name == "class_weight" and not all(isinstance(v, (int, float)) for v in pairs.values()):
        raise DocumentFormatError(f"training.{name}", f"weights are numbers, e.g. '{example}'")
    return pairs
