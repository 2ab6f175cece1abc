"""Layers and helpers shared by the model families."""
