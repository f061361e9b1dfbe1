"""A GAN's or VAE's blocks against each other and against the data, read from the window's analysis:
what the options dialog says while a recipe is chosen, what the analysis panel pins to a block, and
the shapes the data setup is checked against."""

from __future__ import annotations

from typing import Any


def project_diagnostics(doc: Any, analysis: Any, training: dict[str, Any]) -> list[Any]:
    """The project's recipe checked on an analysis of its network: diagnostics pinned to the block at fault,
    as ``netdesigner analyze`` adds them (none for a supervised network)."""
    from designer.graph.serialize import DocumentFormatError
    from designer.keras_bridge.recipe_checks import recipe_diagnostics
    from designer.training.recipes.options import recipe_options

    recipe = training.get("recipe", "supervised")
    try:
        options = recipe_options(recipe, training.get(recipe))
    except DocumentFormatError:  # training refuses the options with their own message; nothing to pin
        return []
    return recipe_diagnostics(doc, analysis, recipe, options)


def recipe_problems(doc: Any, analysis: Any, recipe: str, options: dict[str, Any]) -> list[str]:
    """What analysis says of a recipe's blocks in ``doc`` (an analysis of it), each message naming its block;
    nothing while the document has no analysis yet."""
    from designer.graph.serialize import DocumentFormatError
    from designer.keras_bridge.recipe_checks import recipe_diagnostics
    from designer.training.recipes.latent import resize_latent

    problems = []
    if options.get("latent_dim"):  # resized on a copy: the places that hold the size must be settable
        try:
            resize_latent(doc.copy(), recipe, options, int(options["latent_dim"]))
        except DocumentFormatError as exc:
            problems.append(exc.problem)
    if analysis is None:
        return problems
    return problems + [f"{doc.node(d.node).name}: {d.message}" if d.node else d.message
                       for d in recipe_diagnostics(doc, analysis, recipe, options)]


def drawn_latent_sizes(doc: Any, training: dict[str, Any]) -> dict[str, int | None]:
    """Each recipe's latent size as the network is drawn (None where it cannot be read)."""
    from designer.graph.serialize import DocumentFormatError
    from designer.training.recipes.latent import latent_size
    from designer.training.recipes.options import recipe_options

    sizes: dict[str, int | None] = {}
    for recipe in ("gan", "vae"):
        try:
            sizes[recipe] = latent_size(doc, recipe, recipe_options(recipe, training.get(recipe)))
        except DocumentFormatError:
            sizes[recipe] = None
    return sizes


def fit_shapes(doc: Any, analysis: Any, training: dict[str, Any], inputs: list[Any],
               outputs: list[Any]) -> tuple[list[Any], list[Any]]:
    """The shapes the data setup is checked against: a supervised network's inputs and outputs; a GAN's
    images, which its generator makes (its own input is noise); a VAE's images, which its input takes. A
    recipe trains on images alone, so no outputs are checked against the data's targets."""
    recipe = training.get("recipe", "supervised")
    if recipe == "supervised":
        return inputs, outputs
    if recipe == "vae":
        return inputs[:1], []
    from designer.graph.serialize import DocumentFormatError
    from designer.training.recipes.options import recipe_options

    try:
        name = recipe_options(recipe, training.get(recipe))["generator"]
    except DocumentFormatError:  # training says what is wrong with the options
        return [], []
    made = [analysis.nodes[node.id].outputs[0][0] for node in doc.nodes.values()
            if node.name == name and node.is_block and node.id in analysis.nodes and analysis.nodes[node.id].outputs]
    return made[:1], []
