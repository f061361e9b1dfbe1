"""Whether a GAN's or a VAE's two blocks fit together, read from the shapes analysis found, each problem
pinned to the block at fault. The caller passes the recipe's options (block names) with defaults filled in
(``designer.training.recipes.recipe_options``); a supervised project has no such checks."""

from __future__ import annotations

from typing import Any

from designer.graph.document import NetworkDocument, Node
from designer.graph.validation import Diagnostic
from designer.keras_bridge.analysis import Analysis

ROLES = {"gan": ("generator", "discriminator"), "vae": ("encoder", "decoder")}
CODE = "recipe"


def recipe_diagnostics(doc: NetworkDocument, analysis: Analysis, recipe: str,
                       options: dict[str, Any]) -> list[Diagnostic]:
    if recipe not in ROLES:
        return []
    blocks = {node.name: node for node in doc.nodes.values() if node.block is not None}
    found: list[Node] = []
    for role in ROLES[recipe]:
        if options[role] not in blocks:
            return [Diagnostic("error", None, f"the {recipe} recipe's {role} is the block {options[role]!r}, which "
                               f"this network lacks (blocks: {', '.join(blocks) or 'none'}): add it, or name the "
                               f"{role} in the training options", CODE)]
        found.append(blocks[options[role]])
    if any(analysis.nodes.get(node.id) is None or analysis.nodes[node.id].error for node in found):
        return []  # the block's own problem is reported already
    checks = _gan if recipe == "gan" else _vae
    pair = {node.id for node in found}  # between the two blocks, the recipe's own checks say more
    fed = [problem for node in found for problem in _fed(doc, analysis, node, pair)]
    return [Diagnostic("error", node.id, message, CODE) for node, message in fed + checks(analysis, *found)]


def _fed(doc: NetworkDocument, analysis: Analysis, node: Node, pair: set[str]) -> list[tuple[Node, str]]:
    """Each input of the block against what feeds it (Keras only warns when a nested model is called on
    another shape than its Input declares, as after a latent size set on the Input alone)."""
    declared, problems = _inputs(node), []
    for edge in doc.in_edges(node.id):
        source = analysis.nodes.get(edge.src)
        if (edge.src in pair or source is None or source.error or edge.src_port >= len(source.outputs)
                or edge.dst_port >= len(declared)):
            continue
        given, takes = source.outputs[edge.src_port][0], declared[edge.dst_port]
        if len(given) != len(takes) or any(a is not None and b is not None and a != b
                                           for a, b in zip(given[1:], takes[1:], strict=True)):
            problems.append((node, f"the block {node.name!r} takes {_text(takes)} but {doc.node(edge.src).name!r} "
                                   f"gives it {_text(given)}: make them equal"))
    return problems


def _inputs(node: Node) -> list[tuple[int | None, ...]]:
    """The shapes (batch axis first) that a block's Input nodes declare."""
    assert node.block is not None
    shapes = []
    for entry in node.block.input_nodes():
        if "batch_shape" in entry.params:
            shapes.append(tuple(entry.params["batch_shape"]))
        else:
            shapes.append((None, *entry.params.get("shape", ())))
    return shapes


def _outputs(analysis: Analysis, node: Node) -> list[tuple[int | None, ...]]:
    return [shape for shape, _ in analysis.nodes[node.id].outputs]


def _text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape[1:]) + (",)" if len(shape) == 2 else ")")


def _gan(analysis: Analysis, generator: Node, discriminator: Node) -> list[tuple[Node, str]]:
    problems = []
    made, judged = _outputs(analysis, generator), _outputs(analysis, discriminator)
    takes, given = _inputs(discriminator), _inputs(generator)
    if len(made) != 1:
        problems.append((generator, f"the generator must give one output, the image; it gives {len(made)}"))
    if len(given) not in (1, 2):
        problems.append((generator, "the generator takes noise (and, for a conditional GAN, a class): one input "
                                    f"or two, not {len(given)}"))
    if len(judged) != 1 or judged[0][1:] != (1,):
        problems.append((discriminator, "the discriminator must end in one unit, a logit for real against "
                                        f"generated; it gives {', '.join(_text(s) for s in judged)}"))
    if len(takes) != len(given):
        problems.append((discriminator, f"the discriminator takes {len(takes)} inputs but the generator "
                                        f"{len(given)}: a conditional GAN feeds the class to both"))
    elif made and takes and made[0][1:] != takes[0][1:]:
        problems.append((discriminator, f"the discriminator takes images of {_text(takes[0])} but the generator "
                                        f"makes {_text(made[0])}"))
    return problems


def _vae(analysis: Analysis, encoder: Node, decoder: Node) -> list[tuple[Node, str]]:
    codes, image, latent, drawn = _outputs(analysis, encoder), _inputs(encoder), _inputs(decoder), \
        _outputs(analysis, decoder)
    if len(codes) != 2:
        return [(encoder, f"the encoder must give two outputs, z_mean and z_log_var; it gives {len(codes)}")]
    problems = []
    if codes[0][1:] != codes[1][1:]:
        problems.append((encoder, f"z_mean {_text(codes[0])} and z_log_var {_text(codes[1])} must have one shape"))
    if len(latent) != 1 or latent[0][1:] != codes[0][1:]:
        problems.append((decoder, f"the decoder takes {', '.join(_text(s) for s in latent)} but the encoder's "
                                  f"z_mean has {_text(codes[0])}: make the latent sizes equal"))
    if len(drawn) != 1 or len(image) != 1 or drawn[0][1:] != image[0][1:]:
        problems.append((decoder, f"the decoder draws {', '.join(_text(s) for s in drawn)} but the encoder takes "
                                  f"{', '.join(_text(s) for s in image)}: it must give back an image of the same "
                                  "shape"))
    return problems
