"""Colours, icons and the light/dark palettes."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore  # Qt itself on first use: its enums cost ~45 ms at start-up
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

CATEGORY_COLORS = {
    "Input": "#43a047", "Core": "#1e88e5", "Convolution": "#8e24aa", "Pooling": "#00897b",
    "Normalization": "#f9a825", "Activation": "#fb8c00", "Regularization": "#6d4c41",
    "Recurrent": "#d81b60", "Attention": "#c2185b", "Merge": "#3949ab", "Reshaping": "#546e7a",
    "Preprocessing & Augmentation": "#7cb342", "Block": "#5e35b1", "Operation": "#607d8b", "Other": "#9e9e9e",
}


ICONS = Path(__file__).resolve().parents[2] / "resources" / "icons"


def action_icon(name: str) -> QIcon:
    """A toolbar/menu icon from ``resources/icons``: line drawings in a grey that reads on both themes,
    rendered by Qt's SVG engine at whatever size and pixel ratio a screen asks for."""
    return QIcon(str(ICONS / f"{name}.svg"))


def category_color(category: str) -> QColor:
    return QColor(CATEGORY_COLORS.get(category, CATEGORY_COLORS["Other"]))


def category_icon(category: str, size: int = 16) -> QIcon:
    """A rounded swatch with the category's initial: one glance tells the family of a layer."""
    pixmap = QPixmap(size * 2, size * 2)
    pixmap.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(category_color(category))
    painter.setPen(QtCore.Qt.PenStyle.NoPen)
    painter.drawRoundedRect(2, 2, size * 2 - 4, size * 2 - 4, 7, 7)
    painter.setPen(QColor("white"))
    font = painter.font()
    font.setBold(True)
    font.setPixelSize(int(size * 1.1))
    painter.setFont(font)
    painter.drawText(pixmap.rect(), QtCore.Qt.AlignmentFlag.AlignCenter, category[:1])
    painter.end()
    return QIcon(pixmap)


def apply_theme(app: QApplication, dark: bool) -> None:
    """The palette only: the Fusion style it is made for is chosen when the application is created
    (``designer.app.run.application``)."""
    palette = QPalette()
    if dark:
        for role, color in ((QPalette.ColorRole.Window, "#2b2d30"), (QPalette.ColorRole.WindowText, "#e8e8e8"),
                            (QPalette.ColorRole.Base, "#1f2023"), (QPalette.ColorRole.AlternateBase, "#2b2d30"),
                            (QPalette.ColorRole.Text, "#e8e8e8"), (QPalette.ColorRole.Button, "#35373b"),
                            (QPalette.ColorRole.ButtonText, "#e8e8e8"), (QPalette.ColorRole.Highlight, "#1e88e5"),
                            (QPalette.ColorRole.HighlightedText, "#ffffff"),
                            (QPalette.ColorRole.ToolTipBase, "#35373b"), (QPalette.ColorRole.ToolTipText, "#e8e8e8"),
                            (QPalette.ColorRole.Link, "#64b5f6"), (QPalette.ColorRole.LinkVisited, "#ba68c8")):
            palette.setColor(role, QColor(color))
    app.setPalette(palette)
