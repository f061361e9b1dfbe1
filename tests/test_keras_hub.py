"""Real keras-hub models, built small from their configs with random weights (never from presets, which
download), import as editable nodes of keras-hub's own classes and export to ``.keras`` computing the same."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from designer.cli import main
from designer.export.probes import keras_outputs, sample_inputs
from designer.keras_bridge.build import build_model
from designer.keras_bridge.importer import graph_config, import_model, load_source

keras_hub = pytest.importorskip("keras_hub")


def bert() -> keras.Model:
    return keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=2, num_heads=2, hidden_dim=8,
                                         intermediate_dim=16, max_sequence_length=8, name="bert")


def resnet() -> keras.Model:  # keras-hub's ResNet wants 64 filters first
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 16],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block", image_shape=(16, 16, 3))


def vit() -> keras.Model:
    return keras_hub.models.ViTBackbone(image_shape=(16, 16, 3), patch_size=4, num_layers=2, num_heads=2,
                                        hidden_dim=8, mlp_dim=16)


def outputs(model: keras.Model, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """A model's outputs in the order a document's model gives them (a keras-hub model names them in a dict)."""
    return list(keras_outputs(model, feeds).values())


def round_trip(model: keras.Model, tmp_path) -> keras.Model:
    """``model`` saved, imported and exported with the command line, and loaded back as a user would."""
    model.save(tmp_path / "source.keras")
    project, out = tmp_path / "p.kdn", tmp_path / "again.keras"
    assert main(["import", str(tmp_path / "source.keras"), "-o", str(project)]) == 0
    assert main(["export", str(project), "--format", "keras", "-o", str(out)]) == 0
    return keras.saving.load_model(out, safe_mode=True)


@pytest.mark.parametrize("make", [bert, resnet], ids=["bert", "resnet"])
def test_a_backbone_round_trips_through_import_and_keras_export_with_identical_outputs(make, tmp_path):
    source = make()
    again = round_trip(source, tmp_path)
    feeds = sample_inputs(again, 2, seed=1)
    named = len(feeds) > 1  # BERT takes its inputs by the names the import kept; ResNet one image
    expected = keras.tree.flatten(source(feeds if named else next(iter(feeds.values())), training=False))
    for want, got in zip(expected, outputs(again, feeds), strict=True):
        np.testing.assert_array_equal(got, keras.ops.convert_to_numpy(want))


def test_bert_layers_are_keras_hub_nodes_with_params_from_get_config_and_edits_build(tmp_path):
    source = bert()
    source.save(tmp_path / "bert.keras")
    doc = import_model(load_source(str(tmp_path / "bert.keras")))
    encoders = [n for n in doc.nodes.values() if n.type == "TransformerEncoder"]
    assert len(encoders) == 2 and encoders[0].module.startswith("keras_hub.")
    assert encoders[0].params["intermediate_dim"] == 16 and encoders[0].params["num_heads"] == 2
    assert any(n.type == "PositionEmbedding" and n.module.startswith("keras_hub.") for n in doc.nodes.values())
    encoders[0].params["dropout"] = 0.25  # an edit in the inspector
    rebuilt = build_model(doc)
    layer = rebuilt.get_layer(encoders[0].name)
    assert type(layer) is type(source.get_layer(encoders[0].name)) and layer.dropout == 0.25


def test_generated_code_rebuilds_bert_with_its_sliced_pooling():
    """The pooled output reads ``x[:, 0, :]``; the generated script writes those slices back as slices."""
    from designer.keras_bridge.codegen import generate

    source = bert()
    doc = import_model(source)
    namespace: dict = {}
    exec(compile(generate(doc), "generated.py", "exec"), namespace)
    rebuilt = namespace["build_model"]()
    rebuilt.set_weights(source.get_weights())
    feeds = sample_inputs(rebuilt, 2, seed=3)
    expected = keras.tree.flatten(source(feeds, training=False))
    for want, got in zip(expected, outputs(rebuilt, feeds), strict=True):
        np.testing.assert_array_equal(got, keras.ops.convert_to_numpy(want))


def test_a_task_model_round_trips_with_its_backbone(tmp_path):
    backbone = keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=1, num_heads=2, hidden_dim=8,
                                             intermediate_dim=16, max_sequence_length=8)
    task = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=2, preprocessor=None)
    again = round_trip(task, tmp_path)
    feeds = sample_inputs(again, 2, seed=1)
    np.testing.assert_array_equal(outputs(again, feeds)[0], keras.ops.convert_to_numpy(task(feeds, training=False)))


def test_vit_imports_with_its_constructor_arguments_and_builds_the_same_model():
    """keras-hub's ``ViTPatchingAndEmbedding`` writes derived values (``num_patches``) into its config that its
    constructor refuses; the node keeps the arguments, and the built model computes what the source does."""
    source = vit()
    entry = next(e for e in graph_config(source)["layers"] if e["class_name"] == "ViTPatchingAndEmbedding")
    assert "num_patches" in entry["config"]
    doc = import_model(source)
    patching = next(n for n in doc.nodes.values() if n.type == "ViTPatchingAndEmbedding")
    assert "num_patches" not in patching.params and patching.params["hidden_dim"] == 8
    model = build_model(doc)
    model.set_weights(source.get_weights())
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(source(x)))


def test_vit_round_trips_through_keras_export_though_its_layer_refuses_its_own_config(tmp_path):
    """The same derived values in the exported file would stop Keras reloading it (keras-hub 0.32 still writes
    them): the export keeps the constructor's arguments there too, and says so."""
    source = vit()
    with pytest.raises(TypeError, match="num_patches"):
        type(source.get_layer("vit_patching_and_embedding")).from_config(
            source.get_layer("vit_patching_and_embedding").get_config())
    again = round_trip(source, tmp_path)
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    np.testing.assert_array_equal(outputs(again, {"images": x})[0], keras.ops.convert_to_numpy(source(x)))


def test_the_palette_lists_keras_hubs_layers_in_their_own_category(catalog):
    spec = catalog["TransformerEncoder"]
    assert spec.category == "keras_hub (library)" and spec.module.startswith("keras_hub.")
    assert {"intermediate_dim", "num_heads"} <= {p.name for p in spec.params}
    assert "BertBackbone" not in catalog  # a model, not a layer
