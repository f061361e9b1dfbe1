"""The window's views into a network: explanations of a trained run's decisions."""
