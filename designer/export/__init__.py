"""Export a model to .keras, SavedModel, ONNX, TFLite or a Python script, each verified against Keras."""
