"""Checkpoints: loading, the embedded default model, GGUF import, random checkpoints in the published layout, and
the fingerprint that binds a store to the weights that encoded it."""
