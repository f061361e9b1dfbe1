"""A picture of generated samples (a grid PNG the run wrote, or arrays the generate command made), drawn
large with square pixels: 8×8 digits enlarged smoothly would be blurs."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget


def array_image(picture: np.ndarray) -> QImage:
    """A uint8 picture (H, W) or (H, W, 3) as a QImage that owns its bytes."""
    pixels = np.ascontiguousarray(picture)
    height, width = pixels.shape[:2]
    if pixels.ndim == 2:
        return QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
    return QImage(pixels.data, width, height, width * 3, QImage.Format.Format_RGB888).copy()


class SampleGrid(QWidget):
    """A caption over the picture, scaled to the room it has by whole pixels where it can."""

    def __init__(self, caption: str = "", parent: QWidget | None = None, minimum: int = 160) -> None:
        super().__init__(parent)
        self.caption = QLabel(caption)
        self.caption.setWordWrap(True)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(minimum, minimum)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.picture, 1)
        self.image = QImage()

    def show_png(self, data: bytes, caption: str | None = None) -> bool:
        """Show a PNG's bytes; False (and nothing shown) if they are not a picture."""
        image = QImage.fromData(data, "PNG")
        if image.isNull():
            return False
        self.show_image(image, caption)
        return True

    def show_image(self, image: QImage, caption: str | None = None) -> None:
        self.image = image
        if caption is not None:
            self.caption.setText(caption)
        self._fit()

    def clear(self, caption: str = "") -> None:
        self.image = QImage()
        self.picture.clear()
        self.caption.setText(caption)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self.image.isNull():
            return
        room = self.picture.size()
        scale = min(room.width() / self.image.width(), room.height() / self.image.height())
        if scale >= 2:
            scale = int(scale)  # whole pixels: every sample pixel the same size (below 2, a run's grid, whose
            # pixels are blocks already, fills the room instead, a block a pixel wider here and there)
        size = self.image.size() * max(scale, 0.05)
        self.picture.setPixmap(QPixmap.fromImage(self.image.scaled(
            size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)))
