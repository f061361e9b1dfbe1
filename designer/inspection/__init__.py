"""Looking inside a trained network: a layer's activations, and why it chose a class (Grad-CAM,
occlusion, integrated gradients, LIME). Plain functions over a ``keras.Model`` and NumPy arrays, with
a progress callback and a cancel flag, so the CLI, a worker process and tests all call the same code."""
