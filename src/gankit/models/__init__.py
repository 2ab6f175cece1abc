"""Model families (`gankit models`): each builds a generator and a discriminator."""

from gankit.models import dcgan, mlp  # noqa: F401  (register the families)
from gankit.models.base import MODELS, ModelFamily, register_model

__all__ = ["MODELS", "ModelFamily", "register_model"]
