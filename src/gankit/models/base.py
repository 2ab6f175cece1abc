"""The model-family contract and its registry.

A family builds a generator ``G(z, y=None) -> x`` and a discriminator ``D(x, y=None) -> logits (B,)``
for a data shape and number of classes. Families know nothing about losses or the training loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from gankit.config import ModelConfig
from gankit.registry import Registry

Shape = tuple[int, ...]


@dataclass
class ModelFamily:
    name: str
    description: str
    build_generator: Callable[[ModelConfig, Shape, int], nn.Module]
    # the last argument is the resolved D normalisation: "batch", "layer" or "none"
    build_discriminator: Callable[[ModelConfig, Shape, int, str], nn.Module]
    # None if the family can model data of this shape, else a one-line reason with the fix
    check_shape: Callable[[Shape], str | None] = lambda shape: None


MODELS: Registry[ModelFamily] = Registry("model", "models")


def register_model(family: ModelFamily) -> ModelFamily:
    return MODELS.register(family.name)(family)
