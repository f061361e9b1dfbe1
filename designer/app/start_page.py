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

        # Each list keeps its files by row rather than as item data: the item-data role would name Qt,
        # whose enums cost ~45 ms to build, on the way to the first paint.
        self.samples, self.sample_paths = self._file_list("Sample projects", "sample", grid, 1)
        self.recent, self.recent_paths = self._file_list("Recent", "open", grid, 2)
        QTimer.singleShot(0, self._load_samples)  # after the first paint

    def _file_list(self, title: str, kind: str, grid: QGridLayout, column: int) -> tuple[QListWidget, list[str]]:
        """A titled list of files, two lines each; a double click or Enter (as the platform has it) opens one."""
        box = QGroupBox(title)
        files = QListWidget()
        files.setWordWrap(True)
        files.setAlternatingRowColors(True)  # where one two-line entry ends and the next begins
        files.setSpacing(2)
        paths: list[str] = []
        files.itemActivated.connect(lambda item: self.chosen.emit(kind, paths[files.row(item)]))
        QVBoxLayout(box).addWidget(files)
        grid.addWidget(box, 0, column)
        return files, paths

    def _load_samples(self) -> None:
        for path in sorted(SAMPLES.glob(f"*{SUFFIX}")):
            try:  # the description alone: no need to build the graph for a list entry
                description = str(json.loads(path.read_text(encoding="utf-8")).get("description", ""))
            except (OSError, ValueError, AttributeError):
                continue
            self._add(self.samples, self.sample_paths, str(path), f"{path.stem}\n{description}", description)

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        self.recent_paths.clear()
        for path in paths:
            self._add(self.recent, self.recent_paths, path, f"{Path(path).name}\n{Path(path).parent}", path)

    @staticmethod
    def _add(files: QListWidget, paths: list[str], path: str, text: str, tip: str) -> None:
        item = QListWidgetItem(text)
        item.setToolTip(tip)
        files.addItem(item)
        paths.append(path)
