"""Built-in datasets, seeded stratified splits, previews and the data/network fit check."""

from __future__ import annotations

import numpy as np
import pytest

from designer.data.builtin import BUILTIN, load_builtin
from designer.data.dataset import DataError, Dataset, check_fit


@pytest.mark.parametrize(("name", "shape", "classes"), [
    ("digits", (8, 8, 1), 10), ("iris", (4,), 3), ("wine", (13,), 3), ("breast_cancer", (30,), 2),
    ("spirals", (2,), 2), ("sine", (32, 1), 0)])
def test_builtin_datasets_load_without_network(name, shape, classes):
    data = load_builtin(name)
    assert data.input_shape == shape and data.num_classes == classes
    assert data.x.dtype == np.float32 and np.isfinite(data.x).all()
    assert set(BUILTIN) >= {name}


def test_digits_resize_to_the_classic_cnn_input():
    data = load_builtin("digits", target_size=28)
    assert data.input_shape == (28, 28, 1)
    assert data.x.min() >= 0.0 and data.x.max() <= 1.0 + 1e-6


def test_split_is_seeded_stratified_and_disjoint():
    data = load_builtin("iris")
    a, b = data.split(0.2, 0.2, seed=3), data.split(0.2, 0.2, seed=3)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert len(a.train.x) + len(a.validation.x) + len(a.test.x) == 150
    assert np.bincount(a.test.y).tolist() == [10, 10, 10]  # every class equally represented
    rows = {tuple(r) for r in a.train.x}
    assert not any(tuple(r) in rows for r in a.test.x if (np.sum(np.all(data.x == r, axis=1)) == 1))
    c = data.split(0.2, 0.2, seed=4)
    assert not np.array_equal(a.train.x, c.train.x)


def test_preview_and_counts():
    preview = load_builtin("digits").preview(4)
    assert preview["input_shape"] == [8, 8, 1] and len(preview["first_x"]) == 4
    assert sum(preview["class_counts"].values()) == 1797


def test_fit_check_says_how_to_fix():
    data = load_builtin("digits")
    assert check_fit(data, [(None, 8, 8, 1)], [(None, 10)]) == []
    problems = check_fit(data, [(None, 28, 28, 1)], [(None, 5)])
    assert "set the Input layer's shape to [8, 8, 1]" in problems[0] and "target size" in problems[0]
    assert "set the last layer's units to 10" in problems[1]
    assert check_fit(load_builtin("sine"), [(None, 32, 1)], [(None, 1)]) == []


def test_bad_data_is_named():
    with pytest.raises(DataError, match="sample 1 holds NaN"):
        Dataset("t", np.array([[1.0], [np.nan]], dtype="float32"), np.array([0, 1]), "classification", ["a", "b"])
    with pytest.raises(DataError, match="empty"):
        Dataset("t", np.zeros((0, 2)), np.zeros(0), "regression")
    with pytest.raises(DataError, match="choose one of"):
        load_builtin("mnist")
