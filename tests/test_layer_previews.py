"""Layer previews: each node's output on a data sample, reused across edits where nothing changed, and shown
beside the nodes on the canvas, refreshed after an edit, with statistics and a dialog of all channels."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from PySide6.QtWidgets import QLabel
from test_gui_training import open_copy, window  # noqa: F401  (the fixture)

from conftest import SAMPLES, chain
from designer.app.inspection.layer_previews import ChannelsDialog
from designer.data.builtin import digits
from designer.graph.document import NetworkDocument
from designer.graph.project import load_project, save_project
from designer.inspection.activations import activations
from designer.inspection.previews import GRID, Previewer, picture, statistics
from designer.keras_bridge.build import build_model
from designer.keras_bridge.weights import collect_weights, save_weights_file


def small_cnn() -> tuple[NetworkDocument, dict[str, str]]:
    doc = NetworkDocument("small_cnn")
    image = doc.add_node("InputLayer", "image", {"shape": [8, 8, 1]})
    chain(doc, image.id, ("Conv2D", "conv1", {"filters": 8, "kernel_size": 3, "activation": "relu"}),
          ("Conv2D", "conv2", {"filters": 20, "kernel_size": 3, "activation": "relu"}),
          ("Flatten", "flat", {}), ("Dense", "digit", {"units": 10, "activation": "softmax"}))
    return doc, {n.name: n.id for n in doc.nodes.values()}


def test_previews_are_the_layers_outputs_and_an_edit_recomputes_only_what_follows_it(catalog):
    doc, ids = small_cnn()
    sample = digits().x[5]
    previewer = Previewer(catalog)
    first = previewer.refresh(doc, sample)
    assert set(first) == {ids[name] for name in ("image", "conv1", "conv2", "flat", "digit")}
    np.testing.assert_array_equal(first[ids["image"]].values, sample)  # the input shows the sample
    # The same numbers as one functional model made of the previewer's own layers.
    layers = {name: previewer.layers[ids[name]][1] for name in ("conv1", "conv2", "flat", "digit")}
    inputs = keras.Input((8, 8, 1))
    tensors = {"conv1": layers["conv1"](inputs)}
    tensors["conv2"] = layers["conv2"](tensors["conv1"])
    tensors["digit"] = layers["digit"](layers["flat"](tensors["conv2"]))
    model = keras.Model(inputs, [tensors["conv1"], tensors["conv2"], tensors["digit"]])
    expected = model.predict(sample[None], verbose=0)
    for name, values in zip(("conv1", "conv2", "digit"), expected, strict=True):
        np.testing.assert_allclose(first[ids[name]].values, values[0], rtol=1e-5, atol=1e-6)
    conv2 = first[ids["conv2"]]
    assert conv2.thumbnail.dtype == np.uint8 and conv2.thumbnail.shape == (4 * 5 - 1, 4 * 5 - 1, 3)  # 16 of 20
    assert picture(conv2.values).shape == (4 * 5 - 1, 5 * 5 - 1, 3) and GRID == 16  # the dialog shows all 20
    assert first[ids["digit"]].thumbnail.shape == (32, 10, 3)  # one bar per class
    assert conv2.stats == statistics(conv2.values)
    assert conv2.stats["zeros"] == pytest.approx(np.mean(conv2.values == 0)) and 0 < conv2.stats["zeros"] < 1

    doc.node(ids["conv2"]).params["filters"] = 12
    second = previewer.refresh(doc, sample)
    assert second[ids["conv1"]] is first[ids["conv1"]]  # upstream of the edit: not recomputed
    assert second[ids["conv2"]].values.shape == (4, 4, 12)
    assert not np.allclose(second[ids["digit"]].values, first[ids["digit"]].values)
    assert previewer.layers[ids["digit"]][1] is not layers["digit"]  # its input shape changed: a new layer

    doc.node(ids["digit"]).params["units"] = 10  # the same settings: nothing is rebuilt
    third = previewer.refresh(doc, sample)
    assert all(third[k] is second[k] for k in second)
    assert previewer.refresh(doc, digits().x[6])[ids["conv1"]] is not third[ids["conv1"]]  # another sample


def test_a_feature_map_grid_holds_each_channel_scaled_to_its_own_range():
    """The grid is made for all channels at once; each cell must still be that channel alone, scaled as a heat
    map of one channel is (a constant channel dark), with a dark pixel between cells."""
    rng = np.random.default_rng(0)
    maps = (rng.normal(size=(5, 7, 11)) * rng.choice([1e-3, 1.0, 1e4], 11)).astype("float32")
    maps[..., 3] = 2.5
    maps[..., 8] = np.maximum(maps[..., 8], 0)
    image = picture(maps)
    assert image.shape == (3 * 6 - 1, 4 * 8 - 1, 3)  # 11 channels: 4 across, 3 down
    for k in range(11):
        r, c = divmod(k, 4)
        cell = image[r * 6:r * 6 + 5, c * 8:c * 8 + 7]
        low, high = maps[..., k].min(), maps[..., k].max()
        unit = (maps[..., k] - low) / (high - low) if high > low else np.zeros_like(maps[..., k])
        np.testing.assert_array_equal(cell, picture(unit[..., None]))  # a channel alone, as the same heat map
    assert (image[5] == image[-1, 0]).all() and (image[:, 7] == image[-1, 0]).all()  # dark lines between
    assert (image[-5:, -7:] == image[-1, 0]).all()  # the cell after the last channel is empty


def trained_one_epoch(doc, catalog, data):
    """The network trained a little, seeded: weights unlike the initial ones."""
    keras.utils.set_random_seed(0)
    model = build_model(doc, catalog)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x[:200], data.y[:200], epochs=1, verbose=0)
    return model


def test_previews_use_the_projects_weights_where_they_fit(catalog):
    """Trained weights, as a project keeps them: every preview is what the trained model computes."""
    doc, ids = small_cnn()
    data = digits()
    model = trained_one_epoch(doc, catalog, data)
    previewer = Previewer(catalog)
    previewer.use_weights(collect_weights(model))
    previews = previewer.refresh(doc, data.x[7])
    for name in ("conv1", "conv2", "digit"):
        expected = activations(model, name, data.x[7:8])[0][0]
        np.testing.assert_allclose(previews[ids[name]].values, expected, rtol=1e-4, atol=1e-5)
    doc.node(ids["conv2"]).params["filters"] = 12  # no longer fits: fresh weights there and after
    edited = previewer.refresh(doc, data.x[7])
    np.testing.assert_allclose(edited[ids["conv1"]].values, previews[ids["conv1"]].values)
    assert edited[ids["conv2"]].values.shape == (4, 4, 12)


def blocked_cnn() -> tuple[NetworkDocument, dict[str, str]]:
    """The small CNN with its middle (a convolution and a batch normalisation) in a block."""
    inner = NetworkDocument("features")
    entry = inner.add_node("InputLayer", "features_in", {"shape": [6, 6, 8]}).id
    chain(inner, entry, ("Conv2D", "b_conv", {"filters": 6, "kernel_size": 3, "activation": "relu"}),
          ("BatchNormalization", "b_bn", {}))
    doc = NetworkDocument("blocked_cnn")
    image = doc.add_node("InputLayer", "image", {"shape": [8, 8, 1]})
    conv1 = chain(doc, image.id, ("Conv2D", "conv1", {"filters": 8, "kernel_size": 3, "activation": "relu"}))
    block = doc.add_node("Block", "features", block=inner)
    doc.connect(conv1, block.id)
    chain(doc, block.id, ("Flatten", "flat", {}), ("Dense", "digit", {"units": 10, "activation": "softmax"}))
    ids = {n.name: n.id for n in doc.nodes.values()}
    ids.update({n.name: f"{block.id}/{n.id}" for n in inner.nodes.values()})  # paths through the block
    return doc, ids


def test_nodes_inside_blocks_have_previews_with_the_trained_weights(catalog):
    doc, ids = blocked_cnn()
    data = digits()
    model = trained_one_epoch(doc, catalog, data)
    previewer = Previewer(catalog)
    previewer.use_weights(collect_weights(model))  # inner layers keyed features/b_conv|0 …
    previews = previewer.refresh(doc, data.x[7])
    assert set(previews) == set(ids.values())
    block = model.get_layer("features")
    entering = activations(model, "conv1", data.x[7:8])[0]
    np.testing.assert_allclose(previews[ids["features_in"]].values, entering[0], rtol=1e-5)
    for name in ("b_conv", "b_bn"):
        inside = keras.Model(block.inputs, block.get_layer(name).output).predict(entering, verbose=0)[0]
        np.testing.assert_allclose(previews[ids[name]].values, inside, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(previews[ids["features"]].values, previews[ids["b_bn"]].values)  # the block's output
    np.testing.assert_allclose(previews[ids["digit"]].values, model.predict(data.x[7:8], verbose=0)[0], rtol=1e-4,
                               atol=1e-6)
    doc.node(ids["features"]).block.node(ids["b_conv"].split("/")[1]).params["filters"] = 4  # an edit inside
    edited = previewer.refresh(doc, data.x[7])
    assert edited[ids["conv1"]] is previews[ids["conv1"]] and edited[ids["b_conv"]].values.shape == (4, 4, 4)


def test_a_runs_newer_weights_go_into_the_layers_already_made(catalog):
    """During training each epoch's weights replace the last in place: no layer is made again."""
    doc, ids = small_cnn()
    data = digits()
    keras.utils.set_random_seed(0)
    model = build_model(doc, catalog)
    previewer = Previewer(catalog)
    previewer.use_weights(collect_weights(model))
    before = previewer.refresh(doc, data.x[3])
    layers = {key: layer for key, (_, layer) in previewer.layers.items()}
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x[:200], data.y[:200], epochs=2, verbose=0)
    previewer.update_weights(collect_weights(model))
    after = previewer.refresh(doc, data.x[3])
    assert all(previewer.layers[key][1] is layer for key, layer in layers.items())
    np.testing.assert_allclose(after[ids["digit"]].values, model.predict(data.x[3:4], verbose=0)[0], rtol=1e-4,
                               atol=1e-6)
    assert not np.allclose(after[ids["digit"]].values, before[ids["digit"]].values)


def test_a_node_keras_refuses_has_no_preview_nor_do_those_after_it(catalog):
    doc, ids = small_cnn()
    doc.node(ids["conv2"]).params["kernel_size"] = 30  # larger than its 6×6 input
    previews = Previewer(catalog).refresh(doc, digits().x[0])
    assert set(previews) == {ids["image"], ids["conv1"]}


def test_previews_asked_for_before_the_data_has_loaded_say_so_until_it_has(qtbot, window, tmp_path):  # noqa: F811
    """Turned on at once after opening, the previews wait for the project's data; the status bar says so, and
    stops saying so when they appear (it went on saying "loading" for 15 s after)."""
    from designer.app.main_window import LOADING_PREVIEW_DATA

    path = tmp_path / "classic_cnn.kdn"
    path.write_text((SAMPLES / "classic_cnn.kdn").read_text())
    assert window.open_path(path)
    window.actions_by_name["Layer previews"].trigger()
    assert window.statusBar().currentMessage() == LOADING_PREVIEW_DATA
    qtbot.waitUntil(lambda: bool(window.previews.previews) and window.previews.idle, timeout=60_000)
    assert window.statusBar().currentMessage() != LOADING_PREVIEW_DATA


def test_canvas_previews_appear_change_after_an_edit_and_open_all_channels(qtbot, window, tmp_path):  # noqa: F811
    dock = open_copy(qtbot, window, tmp_path, sample="classic_cnn")
    previews = window.previews
    window.actions_by_name["Layer previews"].trigger()
    assert window.actions_by_name["Layer previews"].isChecked()
    qtbot.waitUntil(lambda: bool(previews.previews) and previews.idle, timeout=60_000)
    assert previews.worker.thread() is window.background.thread  # the Keras worker's, never the GUI's
    doc = window.state.doc
    convs = [n.id for n in doc.nodes.values() if n.type == "Conv2D"]
    items = window.canvas.canvas_scene.nodes
    assert convs and all(items[c].preview is not None for c in convs)
    np.testing.assert_allclose(previews.sample, dock.data.dataset.x[0])
    caption = window.canvas.caption  # which weights: this project has none saved, so Keras's initial ones
    assert caption.isVisibleTo(window) and caption.text() == "Previews: initial weights"
    last = convs[-1]
    before = items[last].preview.copy()
    window.canvas.select([last])
    assert window.inspector.statistics.text().startswith("mean ")
    window._inspector_edited(last, {"params": {**doc.node(last).params, "filters": 5}})
    qtbot.waitUntil(lambda: previews.idle and previews.previews[last].values.shape[-1] == 5, timeout=60_000)
    assert items[last].preview is not None and items[last].preview != before
    window._open_preview(last)
    dialog = window.findChildren(ChannelsDialog)[-1]
    assert "5 channels" in dialog.findChildren(QLabel)[0].text() and not dialog.picture.pixmap().isNull()
    window.actions_by_name["Layer previews"].trigger()  # off: the canvas shows none
    qtbot.waitUntil(lambda: all(item.preview is None for item in items.values()), timeout=5_000)
    assert not caption.isVisibleTo(window)


def test_previews_asked_for_before_the_data_has_loaded_appear_once_it_has(qtbot, window, tmp_path):  # noqa: F811
    """Before, turning previews on while the Training tab was still loading the project's data said
    "choose a data source" (the project had one) and switched them off."""
    path = tmp_path / "classic_cnn.kdn"
    path.write_text((SAMPLES / "classic_cnn.kdn").read_text())
    assert window.open_path(path)
    qtbot.waitUntil(lambda: window.background.idle and window.analysis is not None, timeout=30_000)
    window.actions_by_name["Layer previews"].trigger()
    assert window.actions_by_name["Layer previews"].isChecked()
    qtbot.waitUntil(lambda: bool(window.previews.previews) and window.previews.idle, timeout=60_000)
    assert any(item.preview is not None for item in window.canvas.canvas_scene.nodes.values())


def test_previews_of_a_project_with_saved_weights_say_they_show_those(qtbot, window, tmp_path):  # noqa: F811
    project = load_project(SAMPLES / "classic_cnn.kdn")
    keras.utils.set_random_seed(3)
    model = build_model(project.document)
    save_weights_file(collect_weights(model), tmp_path / "saved.weights.npz")
    project.weights = "saved.weights.npz"
    save_project(project, tmp_path / "classic_cnn.kdn")
    assert window.open_path(tmp_path / "classic_cnn.kdn")
    qtbot.waitUntil(lambda: window.background.idle and window.analysis is not None, timeout=30_000)
    window.actions_by_name["Layer previews"].trigger()
    previews = window.previews
    qtbot.waitUntil(lambda: bool(previews.previews) and previews.idle, timeout=60_000)
    assert window.canvas.caption.text() == "Previews: the project's weights (saved.weights.npz)"
    classes = next(n.id for n in project.document.nodes.values() if n.name == "classes")
    np.testing.assert_allclose(previews.previews[classes].values, model.predict(previews.sample[None], verbose=0)[0],
                               rtol=1e-4, atol=1e-6)  # and they do


@pytest.mark.slow
def test_previews_show_inside_an_opened_block_and_follow_the_epochs_of_a_run(qtbot, window, tmp_path):  # noqa: F811
    from designer.keras_bridge.weights import apply_weights, load_weights_file

    dock = open_copy(qtbot, window, tmp_path, sample="classic_cnn", epochs=2, early_stopping_patience=0)
    previews = window.previews
    window.actions_by_name["Layer previews"].trigger()
    qtbot.waitUntil(lambda: bool(previews.previews) and previews.idle, timeout=60_000)
    names = {n.name: n.id for n in window.state.doc.nodes.values()}
    window.canvas.select([names["conv2"], names["pool2"]])
    window.group_selection()
    block = window.canvas.selected_ids()[0]
    qtbot.waitUntil(lambda: previews.idle and f"{block}/{names['pool2']}" in previews.previews, timeout=60_000)
    window.open_block(block)
    qtbot.waitUntil(lambda: previews.idle, timeout=60_000)
    inner = window.canvas.canvas_scene.nodes
    assert names["conv2"] in inner and all(item.preview is not None for item in inner.values())
    window.canvas.select([names["conv2"]])
    assert window.inspector.statistics.text().startswith("mean ")
    window.close_block()

    initial = previews.previews[names["classes"]].values.copy()
    written: list[dict] = []
    labels: list[str] = []  # what the previews call the weights as each write arrives (they take it first)

    def weights_written(batch: list[dict]) -> None:
        written.extend(e for e in batch if e["event"] == "weights")
        labels.extend(previews.label for e in batch if e["event"] == "weights")

    dock.controller.events.connect(weights_written)
    captions = [window.canvas.caption.text()]
    previews.updated.connect(lambda: captions.append(window.canvas.caption.text()))
    dock.train_button.click()
    with qtbot.waitSignal(dock.controller.ended, timeout=300_000) as ended:
        pass
    assert ended.args[0]["event"] == "finished", ended.args[0]
    run = ended.args[0]["run_id"][:8]
    qtbot.waitUntil(lambda: previews.idle and captions[-1] == f"Previews: trained weights (run {run})", timeout=60_000)
    assert labels[0] == f"epoch 1/2 of run {run}", labels
    shown = {"Previews: initial weights", *(f"Previews: epoch {e}/2 of run {run}" for e in (1, 2))}
    assert captions[0] == "Previews: initial weights" and set(captions[:-1]) <= shown, captions
    assert written and written[-1]["epoch"] == 2 and previews.weights[:2] == (written[-1]["file"], True)
    qtbot.waitUntil(lambda: previews.idle, timeout=60_000)
    model = build_model(window.state.root)  # the network with the last epoch's weights, as the run wrote them
    assert apply_weights(model, load_weights_file(previews.training.preview_weights)) == []
    trained = previews.previews[names["classes"]].values
    np.testing.assert_allclose(trained, model.predict(previews.sample[None], verbose=0)[0], rtol=1e-4, atol=1e-6)
    assert not np.allclose(trained, initial)
