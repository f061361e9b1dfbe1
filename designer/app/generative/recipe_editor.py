"""The training options' recipe: supervised, GAN or VAE, and the chosen recipe's options (which blocks
play which part, label smoothing, β, the reconstruction loss, the latent size, the judge that scores
samples). A GAN or VAE whose blocks do not fit together is said at once, with the analysis's own message,
before the options are accepted."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from designer.training.recipes.options import DEFAULTS, RECIPES, RECONSTRUCTIONS, ROLES

NAMES = {"supervised": "supervised (fit the whole network)", "gan": "GAN (generator against discriminator)",
         "vae": "VAE (encoder and decoder)"}
HELP = {
    "generator": "The block that turns noise (and a class, for a conditional GAN) into an image",
    "discriminator": "The block that scores an image real or generated: it ends in one unit, a logit",
    "label_smoothing": "Real images' target is 1 − this (one-sided smoothing keeps the discriminator from "
                       "growing overconfident); 0: none",
    "discriminator_learning_rate": "The discriminator's own learning rate (its optimizer is separate from the "
                                   "generator's); 0: the training's learning rate",
    "encoder": "The block that turns an image into two outputs of one shape: z_mean and z_log_var",
    "decoder": "The block that turns a latent code back into an image",
    "beta": "The weight of the KL term: above 1 a smoother latent space, below 1 sharper reconstructions",
    "reconstruction": "binary_crossentropy for images in [0, 1] (sigmoid outputs), squared_error otherwise",
    "latent_dim": "The latent size, set in every place that holds it (the noise input and the generator's input; "
                  "the encoder's z_mean and z_log_var units and the decoder's input) when the network trains or "
                  "is swept; the lowest value keeps the size the network is drawn with",
    "judge": "A classifier of the generated images (.keras, relative to the project): after training it scores "
             "samples (judge_confidence, judge_class_entropy, judge_top_class_share, sample_quality), which a "
             "sweep can maximise; empty: no scores",
    "judge_samples": "How many generated samples the judge scores",
    "judge_each_epoch": "Score samples after every epoch too (a sweep can then prune on sample_quality)",
}
OWN_RATE = "discriminator_learning_rate"
WRAP = 56  # characters a line of the problems
# What a recipe's options are checked with: (recipe, options with defaults) -> the analysis's messages.
Check = Callable[[str, dict[str, Any]], list[str]]


class RecipeEditor(QWidget):
    def __init__(self, training: dict[str, Any], blocks: list[str], check: Check | None = None,
                 parent: QWidget | None = None, drawn: dict[str, int | None] | None = None) -> None:
        """``drawn``: each recipe's latent size as the network is drawn, shown while no size is set."""
        super().__init__(parent)
        self.check = check
        self.recipe = QComboBox()
        for recipe in RECIPES:
            self.recipe.addItem(NAMES[recipe], recipe)
        self.recipe.setToolTip("How the network is trained: fit on the data's targets, or two blocks of it "
                               "trained against each other (GAN) or together as a variational autoencoder")
        # one page of options per recipe, only the chosen one shown (so the dialog is as tall as it needs)
        self.pages: dict[str, QWidget] = {"supervised": QWidget()}
        self.editors: dict[str, dict[str, QWidget]] = {"supervised": {}}
        for recipe in ("gan", "vae"):
            given = {**DEFAULTS[recipe], **(training.get(recipe) or {})}
            form = QFormLayout()
            form.setContentsMargins(0, 0, 0, 0)
            editors: dict[str, QWidget] = {}
            for key, value in given.items():
                editor = _editor(key, value, blocks, (drawn or {}).get(recipe))
                editor.setToolTip(HELP[key])
                if isinstance(editor, QComboBox):
                    editor.currentTextChanged.connect(self._recheck)
                elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                    editor.valueChanged.connect(self._recheck)
                elif isinstance(editor, JudgeField):
                    editor.path.textChanged.connect(self._recheck)
                editors[key] = editor
                form.addRow(key.replace("_", " "), editor)
            self.editors[recipe] = editors
            page = QWidget()
            page.setLayout(form)
            self.pages[recipe] = page
        self.problems = QLabel("")  # wrapped here: a word-wrapping label makes a form squeeze its rows
        self.problems.setTextFormat(Qt.TextFormat.PlainText)
        self.problems.setStyleSheet("color: #c62828")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.recipe)
        for page in self.pages.values():
            layout.addWidget(page)
        layout.addWidget(self.problems)
        self.recipe.currentIndexChanged.connect(self._chosen)
        self.recipe.setCurrentIndex(RECIPES.index(training.get("recipe", "supervised")))
        self._chosen()

    def chosen(self) -> str:
        return str(self.recipe.currentData())

    def options(self, recipe: str) -> dict[str, Any]:
        """Every option of ``recipe`` as the editors hold it."""
        out: dict[str, Any] = {}
        for key, editor in self.editors[recipe].items():
            if isinstance(editor, QComboBox):
                out[key] = editor.currentText().strip()
            elif isinstance(editor, QCheckBox):
                out[key] = editor.isChecked()
            elif isinstance(editor, JudgeField):
                out[key] = editor.path.text().strip() or None
            elif key == "latent_dim":
                out[key] = editor.value() or None  # 0 shows "as drawn": the network's own size
            elif isinstance(editor, QSpinBox):
                out[key] = editor.value()
            elif key == OWN_RATE:
                out[key] = editor.value() or None  # 0 shows "same as training": no rate of its own
            else:
                out[key] = round(editor.value(), 4)
        return out

    def values(self) -> dict[str, Any]:
        """The training section's recipe fields; each recipe keeps only what differs from its defaults, so a
        project file stays short and a later default reaches projects that never changed it."""
        out: dict[str, Any] = {"recipe": self.chosen()}
        for recipe in ("gan", "vae"):
            out[recipe] = {k: v for k, v in self.options(recipe).items() if v != DEFAULTS[recipe][k]}
        return out

    def _chosen(self) -> None:
        for recipe, page in self.pages.items():
            page.setVisible(recipe == self.chosen())
        self._recheck()

    def _recheck(self, *_: Any) -> list[str]:
        """The analysis's messages for the chosen recipe's blocks (none for supervised)."""
        recipe = self.chosen()
        problems = self.check(recipe, self.options(recipe)) if self.check and recipe != "supervised" else []
        self.problems.setText("\n".join(textwrap.fill(f"✖ {p}", WRAP) for p in problems))
        self.problems.setVisible(bool(problems))
        window = self.window()
        if window is not self and window.layout() is not None:  # the dialog grows or shrinks with what it shows
            window.layout().activate()
            window.adjustSize()
        return problems


class JudgeField(QWidget):
    """A judge file's path, typed or picked."""

    def __init__(self, value: str | None) -> None:
        super().__init__()
        self.path = QLineEdit(value or "")
        self.path.setPlaceholderText("none: no sample scores")
        pick = QToolButton(text="…")
        pick.setToolTip("Pick a .keras classifier")
        pick.clicked.connect(self._pick)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.path)
        row.addWidget(pick)

    def _pick(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Judge classifier", "", "Keras models (*.keras)")
        if path:
            self.path.setText(path)


def _editor(key: str, value: Any, blocks: list[str], drawn: int | None) -> QWidget:
    if key in ROLES["gan"] + ROLES["vae"]:
        box = QComboBox(editable=True)  # the network's blocks, or a name typed before the block exists
        box.addItems(blocks)
        box.setCurrentText(str(value))
        return box
    if key == "reconstruction":
        box = QComboBox()
        box.addItems(list(RECONSTRUCTIONS))
        box.setCurrentText(str(value))
        return box
    if key == "latent_dim":
        spin = QSpinBox(minimum=0, maximum=65536)
        spin.setSpecialValueText(f"as drawn ({drawn})" if drawn else "as drawn")
        spin.setValue(int(value or 0))
        return spin
    if key == "judge":
        return JudgeField(value)
    if key == "judge_samples":
        spin = QSpinBox(minimum=10, maximum=1_000_000, singleStep=100)
        spin.setValue(int(value))
        return spin
    if key == "judge_each_epoch":
        check = QCheckBox()
        check.setChecked(bool(value))
        return check
    if key == OWN_RATE:
        spin = QDoubleSpinBox(decimals=5, minimum=0.0, maximum=0.99, singleStep=0.0001)
        spin.setSpecialValueText("same as training")
        spin.setValue(float(value or 0.0))
        return spin
    spin = QDoubleSpinBox(decimals=3, minimum=0.0, maximum=0.49 if key == "label_smoothing" else 1000.0,
                          singleStep=0.05 if key == "label_smoothing" else 0.1)
    spin.setValue(float(value))
    return spin
