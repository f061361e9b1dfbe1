"""A GAN's or VAE's latent size, which lives in several places of one document: the noise input and the
generator's first input (GAN); the units of the encoder's z_mean and z_log_var layers and the decoder's
input (VAE). ``resize_latent`` sets them all at once, so the recipe option ``latent_dim`` (a sweep key
like any other) gives a run a consistently resized snapshot of the network. Graph only: no Keras here."""

from __future__ import annotations

import copy
from typing import Any

from designer.graph.document import NetworkDocument, Node
from designer.graph.project import project_from_dict, project_to_dict
from designer.graph.serialize import DocumentFormatError
from designer.training.recipes.options import recipe_options

OPTION = "latent_dim"


def _block(doc: NetworkDocument, name: str, role: str, where: str) -> Node:
    for node in doc.nodes.values():
        if node.name == name and node.block is not None:
            return node
    raise DocumentFormatError(where, f"the {role} block {name!r} is not in the network: name it in the training "
                                     "options before resizing its latent space")


def _first_input(block: Node, where: str) -> Node:
    assert block.block is not None
    inputs = block.block.input_nodes()
    if not inputs:
        raise DocumentFormatError(where, f"the block {block.name!r} has no input layer to take the latent vector")
    return inputs[0]


def _input_size(node: Node) -> int | None:
    shape = node.params.get("batch_shape", [None, *node.params.get("shape", [])])
    return shape[-1] if len(shape) > 1 else None


def _set_input_size(node: Node, size: int) -> None:
    """The input's last axis becomes ``size`` (a ``batch_shape`` keeps its batch axis)."""
    key = "batch_shape" if "batch_shape" in node.params else "shape"
    shape, batch = list(node.params.get(key, [])), int(key == "batch_shape")
    node.params = {**node.params, key: [*shape[:max(batch, len(shape) - 1)], size]}


def _places(doc: NetworkDocument, recipe: str, options: dict[str, Any]) -> list[tuple[Node, str]]:
    """Every (node, parameter) that holds the latent size: ``shape`` of an input, ``units`` of a layer."""
    where = f"training.{recipe}.{OPTION}"
    if recipe == "gan":
        generator = _block(doc, options["generator"], "generator", where)
        places = [(_first_input(generator, where), "shape")]
        feeding = [e for e in doc.in_edges(generator.id) if e.dst_port == 0]
        if feeding and doc.node(feeding[0].src).is_input:  # the noise input on the top graph
            places.append((doc.node(feeding[0].src), "shape"))
        return places
    encoder = _block(doc, options["encoder"], "encoder", where)
    decoder = _block(doc, options["decoder"], "decoder", where)
    assert encoder.block is not None
    places = []
    for ref, role in zip(encoder.block.effective_outputs(), ("z_mean", "z_log_var"), strict=False):
        node = encoder.block.node(ref.node)
        if "units" not in node.params:
            raise DocumentFormatError(where, f"the encoder's {role} comes from {node.name!r} ({node.type}), which has "
                                             "no units to set: end the encoder in two Dense layers, or resize by hand")
        places.append((node, "units"))
    places.append((_first_input(decoder, where), "shape"))
    return places


def latent_size(doc: NetworkDocument, recipe: str, options: dict[str, Any]) -> int | None:
    """The latent size as drawn: the image-making block's input size (None if it cannot be read)."""
    try:
        place = _places(doc, recipe, options)[-1 if recipe == "vae" else 0][0]
    except DocumentFormatError:
        return None
    return _input_size(place)


def resize_latent(doc: NetworkDocument, recipe: str, options: dict[str, Any], size: int) -> None:
    """Set the latent size in every place of ``doc`` that holds it; ``DocumentFormatError`` if one cannot be
    set (analysis then checks that the blocks still fit together, pinning a mismatch to the block)."""
    for node, param in _places(doc, recipe, options):
        if param == "units":
            node.params = {**node.params, "units": size}
        else:
            _set_input_size(node, size)


def apply_latent_dim(doc: NetworkDocument, training: dict[str, Any]) -> bool:
    """Resize ``doc`` to the training options' ``latent_dim`` of its recipe, if they set one (True then)."""
    recipe = training.get("recipe", "supervised")
    options = recipe_options(recipe, training.get(recipe))
    if options.get(OPTION) is None:
        return False
    resize_latent(doc, recipe, options, int(options[OPTION]))
    return True


def sized_snapshot(snapshot: dict[str, Any], training: dict[str, Any]) -> dict[str, Any]:
    """A project dict with ``training``'s latent size applied to its network (the same dict when none is set)."""
    project = project_from_dict(copy.deepcopy(snapshot))
    return project_to_dict(project) if apply_latent_dim(project.document, training) else snapshot
