"""The start page: a blank network, the samples, any keras.applications model, an import, recent files."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from designer.graph.project import SUFFIX

SAMPLES = Path(__file__).resolve().parents[2] / "sample_projects"
APPLICATIONS = ["ConvNeXtTiny", "DenseNet121", "EfficientNetB0", "EfficientNetV2S", "InceptionV3", "MobileNetV2",
                "MobileNetV3Small", "NASNetMobile", "ResNet50", "ResNet50V2", "VGG16", "Xception"]


class StartPage(QWidget):
    chosen = Signal(str, str)  # kind (new, open, sample, application, import), value

    def __init__(self) -> None:
        super().__init__()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(60, 40, 60, 40)
        title = QLabel("<h1>Keras Network Designer</h1><p>Design, analyse, train and export Keras networks.</p>")
        outer.addWidget(title)
        grid = QGridLayout()
        outer.addLayout(grid, 1)

        start = QGroupBox("Start")
        column = QVBoxLayout(start)
        blank = QPushButton("New blank network")
        blank.clicked.connect(lambda: self.chosen.emit("new", ""))
        imp = QPushButton("Import a Keras model (.keras, .h5)…")
        imp.clicked.connect(lambda: self.chosen.emit("import", ""))
        self.apps = QComboBox()
        self.apps.addItems(APPLICATIONS)
        app_button = QPushButton("Open keras.applications architecture")
        app_button.clicked.connect(lambda: self.chosen.emit("application", self.apps.currentText()))
        for widget in (blank, imp, QLabel("Pretrained-architecture templates (weights not downloaded):"),
                       self.apps, app_button):
            column.addWidget(widget)
        column.addStretch(1)
        grid.addWidget(start, 0, 0)

        samples = QGroupBox("Sample projects")
        column = QVBoxLayout(samples)
        self.samples = QListWidget()
        # The files by row rather than as item data: the item-data role would name Qt, whose enums cost
        # ~45 ms to build, on the way to the first paint.
        self.sample_paths: list[str] = []
        QTimer.singleShot(0, self._load_samples)  # after the first paint
        self.samples.setWordWrap(True)
        self.samples.itemActivated.connect(self._sample_chosen)  # a double click or Enter, as the platform has it
        column.addWidget(self.samples)
        grid.addWidget(samples, 0, 1)

        recent = QGroupBox("Recent")
        column = QVBoxLayout(recent)
        self.recent = QListWidget()
        self.recent.itemActivated.connect(lambda item: self.chosen.emit("open", item.text()))
        column.addWidget(self.recent)
        grid.addWidget(recent, 0, 2)

    def _load_samples(self) -> None:
        for path in sorted(SAMPLES.glob(f"*{SUFFIX}")):
            try:  # the description alone: no need to build the graph for a list entry
                description = str(json.loads(path.read_text(encoding="utf-8")).get("description", ""))
            except (OSError, ValueError, AttributeError):
                continue
            item = QListWidgetItem(f"{path.stem}\n{description}")
            item.setToolTip(description)
            self.samples.addItem(item)
            self.sample_paths.append(str(path))

    def _sample_chosen(self, item: QListWidgetItem) -> None:
        self.chosen.emit("sample", self.sample_paths[self.samples.row(item)])

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        self.recent.addItems(paths or [])
