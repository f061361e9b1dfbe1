"""GANs and VAEs in the window: the recipe and its options, the live sample grid, the Samples results page."""
