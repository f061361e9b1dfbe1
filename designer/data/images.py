"""Image folders: one sub-folder per class, images of any size, decoded batch by batch.

``ImageFiles`` stands in for the array of images: slicing or indexing with an array gives another
lazy ``ImageFiles``, an integer or iteration decodes, so splits and previews never hold the whole
folder in memory. Every file's header is read once at load, so a broken file is named before
training starts, not in the middle of an epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from designer.data.dataset import DataError, Dataset

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class ImageFiles:
    """Images decoded on demand to float32 in [0, 1], resized to ``size`` (height, width)."""

    ndim = 4
    dtype = np.dtype("float32")

    def __init__(self, paths: list[Path], size: tuple[int, int], channels: int) -> None:
        self.paths, self.size, self.channels = paths, size, channels

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), *self.size, self.channels)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            return self.decode(self.paths[int(key)])
        chosen = self.paths[key] if isinstance(key, slice) else [self.paths[int(i)] for i in np.asarray(key)]
        return ImageFiles(chosen, self.size, self.channels)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.decode(p) for p in self.paths)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.stack(list(self)) if self.paths else np.zeros(self.shape, "float32")

    def decode(self, path: Path) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                image = image.convert("L" if self.channels == 1 else "RGB")
                if image.size != (self.size[1], self.size[0]):
                    image = image.resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)
                pixels = np.asarray(image, dtype="float32") / 255.0
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"{path}: cannot read this image ({exc}); fix or remove the file") from None
        return pixels[..., None] if self.channels == 1 else pixels


SEPARATE = ("train", ("validation", "val"))  # a folder holding these two uses the second for validation


def load_image_folder(root: Path, target_size: int | None = None) -> Dataset:
    """Classes are the sub-folders (sorted); images keep their size unless ``target_size`` is given,
    and must otherwise all share one size. A folder with ``train/`` and ``validation/`` (or ``val/``)
    inside, each with the same class folders, gives a separate validation set."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    validation = next((root / name for name in SEPARATE[1] if (root / name).is_dir()), None)
    if (root / SEPARATE[0]).is_dir() and validation is not None:
        train = _class_folders(root / SEPARATE[0], target_size)
        held = _class_folders(validation, target_size, like=train.x)  # decoded to the training images' shape
        if held.class_names != train.class_names:
            raise DataError(f"{validation}: its class folders ({', '.join(held.class_names)}) differ from "
                            f"train/ ({', '.join(train.class_names)}); give both the same classes")
        train.validation = (held.x, held.y)
        train.name, train.description = root.name, f"{train.description}; validation from {validation.name}/"
        return train
    return _class_folders(root, target_size)


def _class_folders(root: Path, target_size: int | None, like: ImageFiles | None = None) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{root}: an image folder needs one sub-folder per class (at least two); found "
                        f"{len(classes)}")
    paths, labels, sizes, modes = [], [], set(), set()
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in SUFFIXES)
        if not files:
            raise DataError(f"{root / name}: this class folder holds no images ({', '.join(sorted(SUFFIXES))})")
        for path in files:
            try:
                with Image.open(path) as image:
                    image.verify()
                    sizes.add(image.size)
                    modes.add(image.mode)
            except (OSError, UnidentifiedImageError, SyntaxError) as exc:
                raise DataError(f"{path}: cannot read this image ({exc}); fix or remove the file") from None
            paths.append(path)
            labels.append(label)
    if like is not None:
        size = like.size
    elif target_size:
        size = (target_size, target_size)
    elif len(sizes) == 1:
        width, height = next(iter(sizes))
        size = (height, width)
    else:
        raise DataError(f"{root}: the images have {len(sizes)} different sizes; give a target size "
                        "(image size in the data setup) to resize them all")
    channels = like.channels if like is not None else (1 if modes <= {"L", "1", "I", "I;16", "F"} else 3)
    images = ImageFiles(paths, size, channels)
    return Dataset(root.name, images, np.asarray(labels, dtype="int64"), "classification", classes,  # type: ignore[arg-type]
                   f"{len(paths):,} images in {len(classes)} class folders of {root.name}")


def batches(images: ImageFiles, y: np.ndarray, batch_size: int, shuffle: bool = False, seed: int = 0) -> Any:
    """A ``keras.utils.PyDataset`` that decodes one batch at a time (in Keras's worker threads),
    reshuffled every epoch when ``shuffle``."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=2, use_multiprocessing=False)
            self.order = np.arange(len(images))
            self.rng = np.random.default_rng(seed)
            self.on_epoch_end()

        def __len__(self) -> int:
            return -(-len(images) // batch_size)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            chosen = self.order[index * batch_size:(index + 1) * batch_size]
            return np.asarray(images[chosen]), y[chosen]

        def on_epoch_end(self) -> None:
            if shuffle:
                self.rng.shuffle(self.order)

    return Batches()
