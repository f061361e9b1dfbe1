"""Image folders: one sub-folder per class, any size, streamed; broken folders named with the fix."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from designer.data.dataset import DataError
from designer.data.sources import load_source
from designer.graph.document import NetworkDocument
from designer.graph.project import Project, project_to_dict
from designer.training.worker import start_run


def write_digits(root, sizes=((16, 16),), per_class=30):
    """scikit-learn's digits 0-2 as PNG files, in class folders, at the given sizes."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(3):
        folder = root / f"digit_{label}"
        folder.mkdir(parents=True)
        images = digits.images[digits.target == label][:per_class]
        for i, image in enumerate(images):
            size = sizes[i % len(sizes)]
            Image.fromarray((image * 16).astype("uint8")).resize(size).save(folder / f"{i}.png")
    return root


def test_a_folder_loads_lazily_with_its_classes(tmp_path):
    data = load_source(f"images:{write_digits(tmp_path / 'digits')}")
    assert data.class_names == ["digit_0", "digit_1", "digit_2"] and data.input_shape == (16, 16, 1)
    assert not isinstance(data.x, np.ndarray)  # nothing decoded yet
    splits = data.split(0.2, 0.2, seed=1)
    assert not isinstance(splits.train.x, np.ndarray) and len(splits.train.x) + len(splits.test.x) + len(
        splits.validation.x) == 90
    first = splits.train.x[0]
    assert first.shape == (16, 16, 1) and first.min() >= 0 and first.max() <= 1
    assert data.class_counts() == {"digit_0": 30, "digit_1": 30, "digit_2": 30}


def test_mixed_sizes_need_a_target_size(tmp_path):
    root = write_digits(tmp_path / "digits", sizes=((16, 16), (20, 12)))
    with pytest.raises(DataError, match="different sizes; give a target size"):
        load_source(f"images:{root}")
    assert load_source(f"images:{root}", target_size=24).input_shape == (24, 24, 1)


@pytest.mark.parametrize("damage, message", [
    (lambda root: (root / "digit_1" / "0.png").write_bytes(b"not a png"), "0.png: cannot read this image"),
    (lambda root: [p.unlink() for p in (root / "digit_2").iterdir()], "digit_2: this class folder holds no images"),
])
def test_broken_folders_are_named(tmp_path, damage, message):
    root = write_digits(tmp_path / "digits", per_class=3)
    damage(root)
    with pytest.raises(DataError, match=message):
        load_source(f"images:{root}")
    with pytest.raises(DataError, match="no such folder"):
        load_source(f"images:{tmp_path / 'nowhere'}")


def test_a_cnn_trains_on_an_image_folder(tmp_path, trainer):
    root = write_digits(tmp_path / "digits", sizes=((16, 16), (20, 20)))
    doc = NetworkDocument("folder_cnn")
    x = doc.add_node("InputLayer", "image", {"shape": [16, 16, 1]})
    conv = doc.add_node("Conv2D", "conv", {"filters": 8, "kernel_size": [3, 3], "activation": "relu"})
    pool = doc.add_node("GlobalAveragePooling2D", "pool", {})
    out = doc.add_node("Dense", "out", {"units": 3, "activation": "softmax"})
    for a, b in ((x, conv), (conv, pool), (pool, out)):
        doc.connect(a.id, b.id)
    project = Project(doc, data={"source": f"images:{root}", "target_size": 16},
                      training={"epochs": 3, "batch_size": 8})
    events = list(start_run(project_to_dict(project), tmp_path, trainer, output_dir=str(tmp_path / "out")).events())
    assert events[-1]["event"] == "finished", events[-1]
    assert len(events[-1]["evaluation"]["confusion_matrix"]) == 3
    assert (tmp_path / "out" / "best.keras").is_file()


def test_train_and_validation_folders_keep_validation_apart(tmp_path):
    root = tmp_path / "split"
    write_digits(root / "train", per_class=20)
    write_digits(root / "validation", sizes=((24, 24),), per_class=5)  # other size: decoded to train's
    data = load_source(f"images:{root}")
    splits = data.split(0.3, 0.0, seed=0)
    assert len(splits.validation.x) == 15 and len(splits.train.x) == 60  # nothing carved out of train
    assert splits.validation.x[0].shape == (16, 16, 1)
    (root / "validation" / "digit_2").rename(root / "validation" / "digit_9")
    with pytest.raises(DataError, match="differ from train/"):
        load_source(f"images:{root}")
