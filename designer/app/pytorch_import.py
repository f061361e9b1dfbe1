"""Before a PyTorch file is imported: the user's consent to run the code pickled in it and, for TorchScript
(which keeps no input shape), the shape to trace it with — the window's ``--trust-code`` and ``--input-shape``.

Import stays disabled until the user has agreed and the shape reads as one; a bad shape says why under the
field, in the command line's words.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from designer.keras_bridge.onnx_import.torch_source import needs_input_shape, parse_input_shape

SHAPE_EXAMPLE = "1,3,224,224"


class PyTorchImportDialog(QtWidgets.QDialog):
    """Asks for consent (and a TorchScript file's input shape); ``input_shape()`` after it is accepted."""

    def __init__(self, path: Path, shape: str = "", parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.setWindowTitle(f"Import {path.name}")
        self.setMinimumWidth(520)
        warning = QtWidgets.QLabel(
            f"<b>Loading {path.name} runs Python code stored in it</b> (PyTorch files are pickles). It runs in a "
            "separate process, which converts the model to ONNX for the designer to read; still, import it only "
            "if you trust where it came from.")
        warning.setWordWrap(True)
        icon = QtWidgets.QLabel()
        icon.setPixmap(self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(40))
        top = QtWidgets.QHBoxLayout()
        top.addWidget(icon, 0)
        top.addWidget(warning, 1)
        self.trust = QtWidgets.QCheckBox("I trust this file: run its code to convert it")
        self.shape = QtWidgets.QLineEdit(shape)
        self.shape.setPlaceholderText(f"e.g. {SHAPE_EXAMPLE}")
        self.problem = QtWidgets.QLabel()
        self.problem.setStyleSheet("color: #c62828;")
        self.problem.setWordWrap(True)
        self.buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("Import", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.trust)
        if needs_input_shape(path):
            note = QtWidgets.QLabel("TorchScript keeps no input shape: the model is traced with a random input of "
                                    "the shape you give, batch first (N,C,H,W for images).")
            note.setWordWrap(True)
            form = QtWidgets.QFormLayout()
            form.addRow("Input shape:", self.shape)
            layout.addWidget(note)
            layout.addLayout(form)
            layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.trust.toggled.connect(self._check)
        self.shape.textChanged.connect(self._check)
        self._check()

    def input_shape(self) -> list[int] | None:
        """The shape to trace with, or None where the file records its own (``.pt2``) or the field reads as none."""
        return self._read_shape()[0] if needs_input_shape(self.path) else None

    def _read_shape(self) -> tuple[list[int] | None, str]:
        """The shape field as sizes, or None and why not."""
        try:
            return parse_input_shape(self.shape.text().replace(" ", "")), ""
        except ValueError as exc:
            return None, str(exc)

    def _check(self) -> None:
        dims, why = self._read_shape() if needs_input_shape(self.path) else ([], "")
        text = self.shape.text().strip()
        self.problem.setText(f"{text!r}: {why}" if dims is None and text else "")
        self.import_button.setEnabled(self.trust.isChecked() and dims is not None)
