"""Layers of any library that registers them with Keras, beyond keras-hub (tests/test_keras_hub.py imports real
keras-hub models): a library of the tests' own, registered as keras-hub registers its layers, so that it can
also be taken away (the import then names the package to install) and added from the palette."""

from __future__ import annotations

import keras
import pytest
from keras import layers
from test_gui import window  # noqa: F401  (the window fixture)

from designer.keras_bridge.importer import ModelImportError, import_model

LIBRARY = "tinyhub"


@keras.saving.register_keras_serializable(package=LIBRARY)
class Scale(layers.Layer):
    """A library's own layer: a trainable per-feature scale times a fixed factor."""

    def __init__(self, factor: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, shape):
        self.gain = self.add_weight(shape=(shape[-1],), initializer="random_normal", name="gain")

    def call(self, x):
        return x * self.gain * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=LIBRARY)
class TinyBackbone(keras.Model):
    """Built like keras-hub's BertBackbone: dict inputs and outputs, config = constructor arguments."""

    def __init__(self, vocabulary: int = 20, width: int = 8, depth: int = 2, **kwargs):
        tokens = keras.Input((5,), dtype="int32", name="token_ids")
        mask = keras.Input((5,), name="padding_mask")
        x = layers.Embedding(vocabulary, width, name="embed")(tokens)
        for i in range(depth):
            x = layers.Dense(width, activation="gelu", name=f"dense_{i}")(Scale(1.5, name=f"scale_{i}")(x))
        pooled = layers.Dense(width, name="pool")(keras.ops.sum(x * keras.ops.expand_dims(mask, -1), axis=1))
        super().__init__(inputs={"token_ids": tokens, "padding_mask": mask},
                         outputs={"sequence_output": x, "pooled_output": pooled}, **kwargs)
        self.vocabulary, self.width, self.depth = vocabulary, width, depth

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "vocabulary": self.vocabulary,
                "width": self.width, "depth": self.depth}


def test_a_library_model_nested_in_a_functional_model_opens_as_a_block():
    backbone = TinyBackbone(name="encoder")
    tokens, mask = keras.Input((5,), dtype="int32", name="t"), keras.Input((5,), name="m")
    pooled = backbone({"token_ids": tokens, "padding_mask": mask})["pooled_output"]
    task = keras.Model([tokens, mask], layers.Dense(2, name="head")(pooled))
    doc = import_model(task)
    block = next(n for n in doc.nodes.values() if n.name == "encoder")
    assert block.block is not None and sum(n.type == "Scale" for n in block.block.nodes.values()) == 2


def test_without_the_library_the_import_names_the_package_to_install(tmp_path):
    registry = keras.saving.get_custom_objects()
    TinyBackbone(name="tiny").save(tmp_path / "tiny.keras")
    saved = {k: registry.pop(k) for k in list(registry) if k.startswith(f"{LIBRARY}>")}
    try:
        from designer.keras_bridge.importer import load_source

        with pytest.raises(ModelImportError, match=f"install the package that defines it.*{__name__.split('.')[0]}"):
            load_source(str(tmp_path / "tiny.keras"))
    finally:
        registry.update(saved)


def test_generated_code_finds_the_library_layers():
    from designer.keras_bridge.build import build_model
    from designer.keras_bridge.codegen import generate

    doc = import_model(TinyBackbone())
    namespace: dict = {}
    exec(compile(generate(doc), "generated.py", "exec"), namespace)
    rebuilt = namespace["build_model"]()
    assert sum(isinstance(layer, Scale) for layer in rebuilt.layers) == 2
    assert rebuilt.count_params() == build_model(doc).count_params()


def test_the_palette_lists_the_librarys_layers_in_their_own_category(qtbot, catalog):
    from designer.app.panels import Palette

    spec = catalog["Scale"]
    assert spec.category == "tinyhub (library)" and spec.module == Scale.__module__
    assert [p.name for p in spec.params] == ["factor"]  # read from its signature, as Keras's own are
    assert "Placeholder" not in catalog and "TinyBackbone" not in catalog  # the designer's own; a model
    palette = Palette()
    qtbot.addWidget(palette)
    palette.populate(catalog)
    tops = {palette.tree.topLevelItem(i).text(0).split("  (")[0]: palette.tree.topLevelItem(i)
            for i in range(palette.tree.topLevelItemCount())}
    library = tops["tinyhub (library)"]
    assert [library.child(i).text(0) for i in range(library.childCount())] == ["Scale"]


def test_a_library_layer_added_from_the_palette_analyses_and_builds(qtbot, window):  # noqa: F811
    from test_gui import settle

    from designer.keras_bridge.build import build_model

    window.new_project()
    window.add_layer("InputLayer")
    settle(qtbot, window)
    scale = window.add_layer("Scale")
    window.request_connect(next(iter(window.state.doc.nodes)), 0, scale, 0)
    settle(qtbot, window)
    node = window.state.doc.node(scale)
    assert node.module == Scale.__module__ and window.analysis.ok, window.analysis.diagnostics
    assert window.analysis.nodes[scale].trainable_params == 32  # the default Input's 32 features, one gain each
    assert isinstance(build_model(window.state.doc).get_layer(node.name), Scale)
    assert window.describe(node)["category"] == "tinyhub (library)"
