"""Built-in datasets, seeded stratified splits, previews and the data/network fit check."""

from __future__ import annotations

import numpy as np
import pytest

from designer.data.builtin import BUILTIN, load_builtin
from designer.data.dataset import DataError, Dataset, check_fit


@pytest.mark.parametrize(("name", "shape", "classes"), [
    ("digits", (8, 8, 1), 10), ("digits32", (32, 32, 1), 10), ("iris", (4,), 3), ("wine", (13,), 3),
    ("breast_cancer", (30,), 2),
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


def test_scattered_digits_are_the_digits_enlarged_at_seeded_places_on_a_dark_field():
    data, again, small = load_builtin("digits32"), load_builtin("digits32"), load_builtin("digits")
    np.testing.assert_array_equal(data.x, again.x)  # generated, the same every time
    assert data.x.min() >= 0.0 and data.x.max() <= 1.0 and np.array_equal(data.y, small.y)
    ink = data.x[..., 0] > 0.3  # the noise stays below 0.05
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    extent = [np.ptp(np.flatnonzero(line)) + 1 for line in [*rows, *cols]]
    assert max(extent) <= 16  # each digit within its 16×16 square
    corners = {(int(np.argmax(r)), int(np.argmax(c))) for r, c in zip(rows, cols, strict=True)}
    assert len(corners) > 100  # at many places
    assert (data.x.mean(axis=(1, 2, 3)) < 0.2).all()  # mostly dark: the digit is a small part of the frame
    assert load_builtin("digits32", target_size=64).input_shape == (64, 64, 1)


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


def test_npz_with_and_without_a_separate_validation_set(tmp_path):
    from designer.data.sources import load_source

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "plain.npz", x=rng.random((40, 3)), y=rng.integers(0, 2, 40))
    data = load_source("npz:plain.npz", tmp_path)
    assert data.task == "classification" and data.input_shape == (3,) and data.class_names == ["0", "1"]
    np.savez(tmp_path / "split.npz", x_train=rng.random((40, 3)), y_train=rng.random(40),
             x_val=rng.random((10, 3)), y_val=rng.random(10))
    data = load_source(f"npz:{tmp_path / 'split.npz'}")
    assert data.task == "regression"
    splits = data.split(0.2, 0.1)
    assert len(splits.validation.x) == 10 and len(splits.train.x) + len(splits.test.x) == 40
    np.savez(tmp_path / "wrong.npz", a=np.zeros(3))
    with pytest.raises(DataError, match="expected arrays 'x' and 'y'"):
        load_source("npz:wrong.npz", tmp_path)
    (tmp_path / "bad.npz").write_text("not a zip")
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        load_source("npz:bad.npz", tmp_path)


def test_csv_numeric_categorical_and_text_columns(tmp_path):
    from designer.data.sources import load_source

    lines = ["size,colour,review,label"]
    for i in range(60):
        words = " ".join(f"w{(i * k) % 97}" for k in range(1, 4))
        lines.append(f"{i / 10},{['red', 'green', 'blue'][i % 3]},{words},{['cat', 'dog'][i % 2]}")
    (tmp_path / "pets.csv").write_text("\n".join(lines) + "\n")
    data = load_source("csv:pets.csv", tmp_path, target="label")
    assert data.task == "classification" and data.class_names == ["cat", "dog"]
    assert data.input_shape == (1 + 3 + 32,)  # number, one-hot colour, hashed words (60 distinct texts)
    chosen = load_source("csv:pets.csv", tmp_path, target="label", features=["colour", "size"])
    assert chosen.input_shape == (3 + 1,) and (chosen.x[:, 3] == data.x[:, 0]).all()
    with pytest.raises(DataError, match="no column 'weight'"):
        load_source("csv:pets.csv", tmp_path, target="label", features=["weight"])
    with pytest.raises(DataError, match="no column 'price'"):
        load_source("csv:pets.csv", tmp_path, target="price")
    with pytest.raises(DataError, match="name the column to predict"):
        load_source("csv:pets.csv", tmp_path)
    (tmp_path / "holes.csv").write_text("a,b\n1,2\n3,\n")
    with pytest.raises(DataError, match=r"row 3, column 'b': missing value"):
        load_source("csv:holes.csv", tmp_path, target="a")
    with pytest.raises(DataError, match="no such file"):
        load_source("csv:none.csv", tmp_path, target="a")


def test_input_as_target_makes_autoencoder_data():
    from designer.data.sources import load_source

    data = load_source("builtin:digits", target="input")
    assert data.task == "regression" and data.y.shape == data.x.shape and (data.y == data.x).all()
    with pytest.raises(DataError, match="numeric data held in memory"):
        load_source("builtin:headlines", target="input")


def test_keeping_some_classes_relabels_them_in_order():
    from designer.data.sources import load_source

    data = load_source("builtin:digits", classes=["7", "5"])
    assert data.class_names == ["7", "5"] and set(data.y) == {0, 1}
    full = load_source("builtin:digits")
    assert (data.x[data.y == 0] == full.x[full.y == 7]).all()
    with pytest.raises(DataError, match="no class '11' to keep"):
        load_source("builtin:digits", classes=["11"])
