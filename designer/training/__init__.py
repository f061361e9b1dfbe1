"""Training: the options saved in a project, the worker process and its event stream."""
