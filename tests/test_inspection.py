"""Activations and explanations on a CNN trained on digits scattered over a larger field: the sanity checks
of Adebayo et al. (2018) for every method, activations against Keras's own layers, and the
``explain``/``activations`` commands."""

from __future__ import annotations

import json
import os
import threading

import keras
import numpy as np
import pytest
from PIL import Image
from scipy.stats import rankdata

from conftest import chain
from designer.cli import main
from designer.data.builtin import scattered_digits
from designer.graph.document import NetworkDocument
from designer.graph.project import Project, save_project
from designer.inspection.activations import activations
from designer.inspection.common import Cancelled, InspectionError, outputs, scores
from designer.inspection.explain import METHODS, explain
from designer.keras_bridge.build import build_model
from designer.keras_bridge.weights import collect_weights, save_weights_file

BLANKED = 64  # pixels of 1,024: a quarter of a digit's 16×16
# How many times more the top pixels must hurt than as many random ones, one bar for every method. Measured
# with this network and seed: occlusion ×5.6, LIME ×5.6, integrated gradients ×5.3, Grad-CAM ×4.8 (on conv3,
# whose 8×8 map is upsampled), guided Grad-CAM ×4.6; the top pixels take 0.72-0.88 of the class probability,
# random ones 0.16. (On the 8×8 digits, which fill their frame, Grad-CAM's coarse regions reached only ×1.3.)
FACTOR = 3.0
TEST = slice(1500, None)


def digits_cnn() -> NetworkDocument:
    """Three convolutions, two poolings (a receptive field as large as a digit) and global pooling, the head
    Grad-CAM assumes (the class score is a sum over places); no biases, so blank places have no features and
    the evidence lies in the ink, which blanking removes."""
    doc = NetworkDocument("digits_cnn")
    image = doc.add_node("InputLayer", "image", {"shape": [32, 32, 1]})
    conv = {"kernel_size": 3, "padding": "same", "activation": "relu", "use_bias": False}
    chain(doc, image.id, ("Conv2D", "conv1", {"filters": 16, **conv}), ("MaxPooling2D", "down1", {}),
          ("Conv2D", "conv2", {"filters": 32, **conv}), ("MaxPooling2D", "down2", {}),
          ("Conv2D", "conv3", {"filters": 32, **conv}), ("GlobalAveragePooling2D", "pool", {}),
          ("Dense", "digit", {"units": 10, "activation": "softmax"}))
    return doc


@pytest.fixture(scope="module")
def trained():
    """The CNN trained on the first 1,500 scattered digits (seconds), with 16 confidently right test digits."""
    data = scattered_digits()
    keras.utils.set_random_seed(0)
    doc = digits_cnn()
    model = build_model(doc)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(data.x[:1500], data.y[:1500], epochs=10, batch_size=32, verbose=0)
    x, y = data.x[TEST], data.y[TEST]
    probabilities = outputs(model, x)
    right = np.flatnonzero((probabilities.argmax(-1) == y) & (probabilities.max(-1) > 0.7))[:16]
    return doc, model, x[right], y[right], right + TEST.start


@pytest.fixture(scope="module")
def reinitialised(trained):
    keras.utils.set_random_seed(1)
    model = keras.models.clone_model(trained[1])  # the same network, fresh initial weights
    return model


def blanked(x: np.ndarray, places: np.ndarray) -> np.ndarray:
    flat = x.reshape(len(x), -1).copy()
    np.put_along_axis(flat, places, 0.0, axis=1)
    return flat.reshape(x.shape)


@pytest.mark.parametrize("method", list(METHODS))
def test_blanking_the_most_attributed_pixels_hurts_far_more_than_random_ones(trained, method):
    _, model, x, y, _ = trained
    maps = explain(model, x, method)
    assert maps.shape == (len(x), 32, 32)
    full = scores(model, x, y)
    top = np.argsort(-maps.reshape(len(x), -1), axis=1)[:, :BLANKED]
    drop_top = (full - scores(model, blanked(x, top), y)).mean()
    rng = np.random.default_rng(0)
    drop_random = np.mean([(full - scores(model, blanked(x, rng.permuted(np.tile(np.arange(1024), (len(x), 1)),
                                                                          axis=1)[:, :BLANKED]), y)).mean()
                           for _ in range(10)])
    assert drop_top > FACTOR * drop_random and drop_top > 0.4, (drop_top, drop_random)


@pytest.mark.parametrize("method", list(METHODS))
def test_maps_change_when_the_weights_are_reinitialised(trained, reinitialised, method):
    _, model, x, y, _ = trained
    before, after = explain(model, x, method, classes=y), explain(reinitialised, x, method, classes=y)
    similarity = [rank_correlation(a, b) for a, b in zip(before, after, strict=True)]
    assert np.mean(similarity) < 0.5, similarity


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho; a constant map ranks nothing, so it shares nothing with another."""
    ra, rb = rankdata(a.ravel()), rankdata(b.ravel())
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def test_the_methods_ran_on_the_backend_asked_for():
    """Guards the rerun of these checks under another backend (``test_inspection_backends``)."""
    assert keras.backend.backend() == os.environ["KERAS_BACKEND"]


def test_activations_equal_what_keras_computes_layer_by_layer(trained):
    _, model, x, _, _ = trained
    expected = x
    for layer in model.layers[1:]:  # after the input, each layer called on its own, as Keras computes it
        expected = keras.ops.convert_to_numpy(layer(expected))
        [got] = activations(model, layer.name, x)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(expected, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_unusable_choices_name_the_problem_and_the_way_out(trained):
    _, model, x, _, _ = trained
    with pytest.raises(InspectionError, match=r"no layer 'nope'; its layers are .*conv1, down1"):
        activations(model, "nope", x)
    with pytest.raises(InspectionError, match=r"'pool' outputs shape \(None, 32\).*here: conv1, conv2, conv3"):
        explain(model, x, "gradcam", layer="pool")
    with pytest.raises(InspectionError, match="gradcam and guided-gradcam only"):
        explain(model, x, "occlusion", layer="conv1")
    with pytest.raises(InspectionError, match=r"samples of shape \(4,\) do not fit the model's input \(32, 32, 1\)"):
        explain(model, np.zeros((2, 4), "float32"), "lime")


def test_progress_is_reported_and_cancel_stops_the_work(trained):
    _, model, x, _, _ = trained
    seen: list[float] = []
    explain(model, x[:4], "occlusion", progress=seen.append)
    assert seen == [0.25, 0.5, 0.75, 1.0]
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        explain(model, x[:4], "lime", progress=lambda share: cancel.set(), cancel=cancel)


def test_results_page_heat_maps_cover_any_convolution(trained):
    """The results page's Grad-CAM is this one: a separable convolution counts (the old copy knew only Conv2D)."""
    from designer.training.evaluation import sample_predictions

    _, _, x, y, _ = trained
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.SeparableConv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
    report = sample_predictions(model, x, y, outputs(model, x), [str(c) for c in range(10)])
    heat = np.asarray([s["heatmap"] for s in report["samples"]])
    assert heat.shape == (12, 32, 32) and heat.max() == pytest.approx(1.0)


def test_a_model_explained_across_a_skip_connection_still_saves(tmp_path):
    """Grad-CAM cuts the network at the convolution; where a residual Add reaches back past it, Keras's cut
    re-pointed the model's input and a trained residual CNN's run failed to save its model afterwards."""
    from designer.inspection.gradcam import grad_cam

    image = keras.Input((12, 12, 1))
    stem = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(image)
    conv = keras.layers.Conv2D(4, 3, padding="same")(stem)
    added = keras.layers.Add()([stem, conv])
    scores_ = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(added))
    model = keras.Model(image, scores_)
    x = np.random.default_rng(0).random((2, 12, 12, 1), dtype="float32")
    assert grad_cam(model, x).shape == (2, 12, 12)
    model.save(tmp_path / "explained.keras")
    again = keras.saving.load_model(tmp_path / "explained.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.fixture(scope="module")
def project(trained, tmp_path_factory):
    doc, model, _, _, _ = trained
    folder = tmp_path_factory.mktemp("explain")
    save_weights_file(collect_weights(model), folder / "digits_cnn.weights.npz")
    saved = Project(doc, "digits", data={"source": "builtin:digits32"})
    saved.weights = "digits_cnn.weights.npz"
    save_project(saved, folder / "digits_cnn.kdn")
    return folder / "digits_cnn.kdn"


def test_explain_writes_a_map_and_a_picture_per_sample(trained, project, tmp_path, capsys):
    _, model, x, _, indices = trained
    chosen = indices[:3]
    argv = ["explain", str(project), "--method", "integrated-gradients", "--samples", ",".join(map(str, chosen)),
            "-o", str(tmp_path / "maps"), "--json"]
    assert main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = explain(model, x[:3], "integrated-gradients")
    for line, index, probs, heat in zip(lines, chosen, outputs(model, x[:3]), expected, strict=True):
        assert set(line) == {"sample", "class", "probability", "map", "png"} and line["sample"] == index
        assert line["class"] == str(probs.argmax()) and line["probability"] == pytest.approx(probs.max(), abs=1e-5)
        np.testing.assert_allclose(np.load(line["map"]), heat, rtol=1e-4, atol=1e-6)
        with Image.open(line["png"]) as picture:
            assert picture.size == (256, 256) and picture.mode == "RGB"


def test_explain_reads_a_run_folder(trained, tmp_path, capsys):
    """A RUN is found as export finds it: here a run's folder with its project and best checkpoint."""
    doc, model, _, _, indices = trained
    save_project(Project(doc, "digits", data={"source": "builtin:digits32"}), tmp_path / "project.kdn")
    model.save(tmp_path / "best.keras")
    assert main(["explain", str(tmp_path), "--method", "gradcam", "--layer", "conv1", "--samples",
                 str(indices[0]), "-o", str(tmp_path / "out")]) == 0
    assert "→" in capsys.readouterr().out
    assert np.load(tmp_path / "out" / f"sample_{indices[0]}_gradcam.npy").shape == (32, 32)


def test_activations_command_writes_the_layer_outputs(trained, project, tmp_path, capsys):
    _, model, x, _, indices = trained
    out = tmp_path / "conv2.npz"
    assert main(["activations", str(project), "--layer", "conv2", "--samples", f"{indices[0]},{indices[1]}",
                 "-o", str(out)]) == 0
    with np.load(out) as saved:
        assert saved["samples"].tolist() == indices[:2].tolist()
        np.testing.assert_allclose(saved["activations"], activations(model, "conv2", x[:2])[0], rtol=1e-5)


@pytest.mark.parametrize(("argv", "message"), [
    (["activations", "--layer", "nope", "--samples", "0"], "no layer 'nope'"),
    (["explain", "--method", "gradcam", "--layer", "pool", "--samples", "0"], "Grad-CAM needs a convolutional"),
    (["explain", "--method", "lime", "--samples", "0,1797"], "sample 1797 is out of range: digits32 has 1797"),
    (["explain", "--method", "lime", "--samples", "zero"], "give sample indices like 0,1,2"),
])
def test_unusable_input_exits_2_with_one_line(project, tmp_path, capsys, argv, message):
    out = str(tmp_path / ("a.npz" if argv[0] == "activations" else "maps"))
    assert main([argv[0], str(project), *argv[1:], "-o", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("netdesigner: ") and err.count("\n") == 1 and message in err, err
