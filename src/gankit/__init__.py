"""gankit: train, watch, measure and use generative adversarial networks.

>>> import gankit
>>> run = gankit.train(data="ring8", model="mlp", steps=2000)   # doctest: +SKIP
>>> gan = gankit.load(run.run_dir)                                # doctest: +SKIP
>>> x = gan.sample(2500, seed=0)                                  # doctest: +SKIP
>>> gankit.evaluate(run.run_dir)                                  # doctest: +SKIP
"""

from gankit.api import (
    compare,
    describe_model,
    evaluate,
    list_datasets,
    list_losses,
    list_models,
    load,
    make_config,
    train,
)
from gankit.config import Config
from gankit.errors import GankitError

__version__ = "0.1.0"

__all__ = [
    "Config",
    "GankitError",
    "compare",
    "evaluate",
    "list_datasets",
    "list_losses",
    "list_models",
    "describe_model",
    "load",
    "make_config",
    "train",
    "__version__",
]
