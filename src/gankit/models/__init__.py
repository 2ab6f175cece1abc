"""Model families (`gankit models`): each a plug-in declaring its networks, options and objective."""

from gankit.models import biggan, ctgan, cyclegan, dcgan, mlp, pix2pix, progan, sngan, srgan, stylegan  # noqa: F401  (register the families)
from gankit.models.base import MODELS, Family, Group, Net, register_model
from gankit.models.generator import GeneratorFamily, ModelFamily

__all__ = ["MODELS", "Family", "GeneratorFamily", "Group", "ModelFamily", "Net", "register_model"]
