"""One writer per method: each turns the float model (and, for ONNX, its verified float export) into the
compressed artifact at ``path`` and returns notes for the report."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np

from designer.compress import prune, structured
from designer.data.dataset import Split
from designer.export import keras_file, tflite_file
from designer.export.probes import input_names
from designer.export.report import ExportError
from designer.graph.project import Project
from designer.keras_bridge.build import build_model
from designer.keras_bridge.saving import save_with_weights
from designer.keras_bridge.weights import apply_weights, collect_weights

CALIBRATION_SAMPLES = 200  # representative samples for int8 ranges: enough for stable min/max


@dataclass
class Job:
    """What a writer may need besides the model: training data to calibrate or fine-tune on."""

    model: keras.Model
    train: Split
    sparsity: float
    epochs: int
    batch_size: int
    learning_rate: float
    loss: str
    baseline: Path  # the verified float artifact of the same kind
    project: Project | None = None  # the network's document and setup, which structured pruning changes


def _calibration(job: Job) -> np.ndarray:
    return np.asarray(job.train.x[:CALIBRATION_SAMPLES], dtype="float32")


def tflite(method: str, job: Job, path: Path) -> list[str]:
    import tensorflow as tf

    name = input_names(job.model)[0]

    def samples() -> Iterator[dict[str, np.ndarray]]:
        for x in _calibration(job):
            yield {name: x[None]}

    def configure(converter: tf.lite.TFLiteConverter) -> None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if method == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if method == "int8":  # every op in int8, float input and output so callers need not quantise
            converter.representative_dataset = samples
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]

    try:
        return tflite_file.write(job.model, path, configure)
    except ExportError as exc:
        if method == "int8" and "quantiz" in str(exc).lower():
            raise ExportError(f"full-integer TFLite cannot quantise this model: {exc}; "
                              "try --method dynamic") from None
        raise


def keras_int8(job: Job, path: Path) -> list[str]:
    """Keras's own ``quantize("int8")`` on the layers that implement it; the others stay float32 (named in
    the notes) and a model with none of them is refused, naming its layers."""
    model = copy(job.model)
    weighted = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
                if layer.weights and not list(layer._flatten_layers(include_self=False))]
    able = [layer for layer in weighted if type(layer).quantize is not keras.layers.Layer.quantize]
    unable = [f"{layer.name!r} ({type(layer).__name__})" for layer in weighted if layer not in able]
    if not able:
        raise ExportError(f"Keras {keras.__version__} cannot quantise any layer of this model to int8: "
                          f"{', '.join(unable)} {'has' if len(unable) == 1 else 'have'} no int8 mode in Keras "
                          "(it quantises Dense, EinsumDense and Embedding layers); use --method int8 or "
                          "dynamic for TFLite instead", usage=True)
    for layer in able:
        try:
            layer.quantize("int8")
        except (ValueError, NotImplementedError) as exc:
            raise ExportError(f"layer {layer.name!r} ({type(layer).__name__}) cannot be quantised to int8 by "
                              f"Keras: {str(exc).splitlines()[0]}", usage=True) from None
    keras_file.write(model, path)
    return [f"layer {u} stays float32: Keras {keras.__version__} has no int8 mode for it" for u in unable]


def onnx_int8(job: Job, path: Path) -> list[str]:
    """Static QDQ quantisation by onnxruntime (int8 weights per channel, int8 activations calibrated on
    training samples) of the verified float ONNX export."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    name = input_names(job.model)[0]
    batches = iter([{name: x[None]} for x in _calibration(job)])

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(batches, None)

    try:
        quantize_static(str(job.baseline), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QInt8)
    except Exception as exc:  # onnxruntime raises plain exceptions naming the node it cannot handle
        raise ExportError(f"onnxruntime cannot quantise this model: {str(exc).strip().splitlines()[0][:300]}") \
            from None
    return []


def pruned(job: Job, path: Path) -> list[str]:
    """Fine-tune a copy for ``epochs`` with magnitude pruning to ``sparsity``; saved as .keras."""
    model = copy(job.model)
    kernels = prune.prunable(model)
    if not kernels:
        raise ExportError("nothing to prune: the model has no trainable kernels (Dense, Conv, Embedding, …)",
                          usage=True)
    steps = job.epochs * -(-len(job.train.x) // job.batch_size)
    fine_tune(model, job, [prune.MagnitudePruning(kernels, job.sparsity, steps)])
    keras_file.write(copy(model), path)  # without the optimizer's state, like the float baseline
    return [f"{len(kernels)} kernels pruned to {prune.sparsity(model):.1%} zeros during {job.epochs} epochs of "
            "fine-tuning"]


def pruned_structure(job: Job, path: Path) -> list[str]:
    """Remove whole filters and units (``structured``), fine-tune the smaller network for ``epochs`` and save
    it as a project (.kdn) with its weights beside it; refused, naming each layer and why, when no layer
    can shrink."""
    assert job.project is not None
    chosen = structured.plan(job.project.document, job.model, job.sparsity)
    if not chosen.keep:
        raise ExportError("no layer can lose filters or units: "
                          + "; ".join(f"{name} stays whole: {why}" for name, why in chosen.whole.items())
                          + " (structured pruning shrinks Conv and Dense layers whose outputs only reach "
                          "channel-wise layers and other Conv or Dense layers)", usage=True)
    document, arrays = structured.shrink(job.project.document, job.model, collect_weights(job.model), chosen)
    model = build_model(document)
    if missed := apply_weights(model, arrays):
        raise ExportError(f"the shrunk weights of {', '.join(missed)} do not fit the shrunk network")
    fine_tune(model, job)
    save_with_weights(replace(job.project, document=document, weights=""), path, collect_weights(model))
    return [*structured.notes(job.model, chosen), f"fine-tuned for {job.epochs} epochs after shrinking"]


def fine_tune(model: keras.Model, job: Job, callbacks: list[keras.callbacks.Callback] | None = None) -> None:
    """A short training of ``model`` on the job's training split, with training's loss and learning rate."""
    model.compile(optimizer=keras.optimizers.Adam(job.learning_rate), loss=job.loss)
    model.fit(job.train.x, job.train.y, batch_size=job.batch_size, epochs=job.epochs, verbose=0, shuffle=True,
              callbacks=callbacks or [])


def copy(model: keras.Model) -> keras.Model:
    """A fresh, uncompiled twin (no optimizer state in what it saves: ``clone_model`` compiles a clone of a
    compiled model) holding the same weights. Stateful preprocessing layers derive what ``call`` uses from
    their weights in ``finalize_state``, as loading does."""
    twin = type(model).from_config(model.get_config())
    twin.set_weights(model.get_weights())
    for layer in twin._flatten_layers(include_self=False):
        if hasattr(layer, "finalize_state"):
            layer.finalize_state()
    return twin


def write(method: str, job: Job, path: Path) -> list[str]:
    if method == "keras-int8":
        return keras_int8(job, path)
    if method == "onnx-int8":
        return onnx_int8(job, path)
    if method == "prune":
        return pruned(job, path)
    if method == "prune-structured":
        return pruned_structure(job, path)
    return tflite(method, job, path)
