"""The model-family contract and its registry.

A family is a plug-in: it declares its options (a dataclass), its networks by name with their
optimiser groups and EMAs, its objective (phases of terms, in stages), its recipes per dataset, and
what its trained model does (``task``). The training loop runs whatever it declares and knows no
family by name (docs/design.md shows how to add one).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from torch import nn

from gankit.config import Config, ModelConfig
from gankit.errors import GankitError, did_you_mean
from gankit.registry import Registry

if TYPE_CHECKING:
    from gankit.training.objective import Objective, TrainContext

Shape = tuple[int, ...]
Task = Literal["generate", "translate", "synthesize"]


@dataclass
class Net:
    """One named network of a family.

    ``group`` names the optimiser that trains it (``None``: frozen, e.g. a feature network: not
    trained, not checkpointed); ``ema`` keeps an exponential moving average of its weights
    (``optim.ema``); ``export`` marks the networks the saved model is made of (the loop writes no
    checkpoint or export while their weights are not finite).
    """

    module: nn.Module
    group: str | None
    ema: bool = False
    export: bool = False


@dataclass
class Group:
    """An optimiser over one or more networks (CycleGAN's two generators share one)."""

    lr: float
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 0.0


@dataclass
class NoOptions:
    """A family without options of its own."""


@dataclass
class FlatOptions:
    """The options every family had in gankit 0.1's flat ModelConfig, at that release's defaults."""

    width: int = 64
    depth: int = 3
    extra_convs: int = 0
    upsample: str = "transposed"
    g_norm: str = "none"


# A config.yaml of 0.1 names all of these for every family, at these values where a family did not
# use them: a family that lacks one ignores it at that value (any other value is a mistake worth an error).
LEGACY_FLAT_DEFAULTS: dict[str, Any] = dataclasses.asdict(FlatOptions())


class Family:
    """Base class of a model family; subclasses set the class attributes and override the methods.

    Required: ``name``, ``description``, :meth:`networks`, :meth:`objective`, :meth:`outputs` and,
    for a model that can be loaded again, :meth:`build_export`.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    task: ClassVar[Task] = "generate"
    Options: ClassVar[type] = NoOptions
    # dataset name -> {"section.key": value} filled into fields the user left on auto
    recipes: ClassVar[dict[str, dict[str, Any]]] = {}
    budget_recipes: ClassVar[dict[str, dict[str, Any]]] = {}  # data name -> settings under --minutes
    # the kinds of data it models ("images", "points", "table") and, among families that model the
    # data, the one with the highest priority is the default
    data_kinds: ClassVar[tuple[str, ...]] = ("images", "points")
    priority: ClassVar[int] = 0
    convolutional: ClassVar[bool] = False  # channels_last pays off (train.channels_last=auto)
    network_names: ClassVar[tuple[str, ...]] = ()  # for `gankit models NAME`

    # --- options and resolution ---------------------------------------------------------------
    def check_shape(self, shape: Shape) -> str | None:
        """None if the family can model data of this shape, else a one-line reason with the fix."""
        return None

    def resolve(self, cfg: Config, data: Any) -> None:
        """Fill the family's own auto fields once recipes and defaults are in (e.g. D's norm)."""

    def validate(self, options: Any, cfg: Config) -> list[str]:
        """Messages for invalid option values (each becomes a one-line error)."""
        return []

    def recipe(self, data_name: str, data: Any) -> dict[str, Any]:
        return self.recipes.get(data_name, {})

    def budget_recipe(self, data_name: str, data: Any) -> dict[str, Any]:
        """Settings for a run whose length is a wall-clock budget (``--minutes`` without ``--steps``),
        over the recipe: typically a rate schedule that decays over the planned length, or rates and
        sizes for a run of thousands of steps where the recipe was sized for hundreds."""
        return self.budget_recipes.get(data_name, {})

    def load_data(self, cfg: Config) -> Any:
        """The data ``cfg.data`` names, in the form this family trains on (images or points here)."""
        from gankit.data import load_data

        return load_data(cfg.data)

    def steps_per_epoch(self, cfg: Config, data: Any) -> int:
        """Steps in one pass over the data (``train.epochs`` sets ``train.steps`` from it)."""
        return max(1, len(data) // cfg.train.batch_size)

    # --- what it trains -----------------------------------------------------------------------
    def groups(self, cfg: Config) -> dict[str, Group]:
        """The optimiser groups: by default ``g`` and ``d`` from ``optim.*`` (--lr-g / --lr-d)."""
        o = cfg.optim
        return {"g": Group(o.lr_g, o.betas_g), "d": Group(o.lr_d, o.betas_d)}

    def networks(self, cfg: Config, data: Any) -> dict[str, Net]:
        raise NotImplementedError

    def batches(self, cfg: Config, data: Any, rank: int, world: int) -> Any:
        """What the terms draw real batches from; has ``state_dict()`` / ``load_state_dict()``."""
        from gankit.data import BatchSampler

        return BatchSampler(len(data), cfg.train.batch_size, cfg.train.seed, rank, world)

    def objective(self, ctx: TrainContext) -> Objective:
        raise NotImplementedError

    def outputs(self, ctx: TrainContext, run_dir) -> Outputs:
        """Sample grids, evaluation and the exported model of a run (models/generator.py)."""
        raise NotImplementedError

    # --- what it exports ----------------------------------------------------------------------
    def build_export(self, meta: dict[str, Any]) -> nn.Module:
        """The exported model rebuilt from its ``config.json`` (``meta``), weights not yet loaded."""
        raise NotImplementedError

    def load_model(self, directory, device: str = "cpu") -> Any:
        """What ``gankit.load`` returns for an export of this family (a generator by default)."""
        from gankit.pretrained import GAN

        return GAN.from_pretrained(directory, device=device)


class Outputs:
    """What a run writes besides checkpoints, for the loop to call: ``start`` (fresh runs), ``preview``
    (a grid; returns its diversity or None), ``evaluate`` (None when off), ``save`` (the export). The
    export is built once per step (:meth:`make_export`), so a preview, an evaluation and a checkpoint
    at the same step share one."""

    def __init__(self, ctx: TrainContext, run_dir) -> None:
        self.ctx, self.run_dir = ctx, run_dir
        self._exported: dict[int, nn.Module] = {}
        self.final = True

    def start(self) -> None:
        pass

    def preview(self, step: int) -> float | None:
        return None

    def evaluate(self, step: int) -> Any:
        return None

    def clear(self) -> None:
        self._exported.clear()

    def export(self, step: int) -> nn.Module:
        if step not in self._exported:
            self._exported.clear()
            self.final = step >= self.ctx.cfg.train.steps  # the export kept; earlier ones may be cheaper
            self._exported[step] = self.make_export()
        return self._exported[step]

    def make_export(self) -> nn.Module:
        raise NotImplementedError

    def save(self, step: int, model_dir) -> None:
        raise NotImplementedError


MODELS: Registry[Family] = Registry("model", "models")


def register_model(family: type[Family] | Family) -> Any:
    """Register a family (class or instance; usable as a class decorator)."""
    instance = family() if isinstance(family, type) else family
    MODELS.register(instance.name)(instance)
    return family


def family_of(cfg: ModelConfig | dict[str, Any]) -> Family:
    return MODELS.get(cfg["name"] if isinstance(cfg, dict) else cfg.name)


# --- options ---------------------------------------------------------------------------------------
def option_fields(family: Family) -> list[dataclasses.Field]:
    return list(fields(family.Options))


def shared_option_names() -> list[str]:
    return [f.name for f in fields(ModelConfig) if f.name != "options"]


def parse_options(family: Family, raw: dict[str, Any], source: str = "config") -> Any:
    """The family's Options from ``{name: value}``: values coerced, unknown names refused with a
    did-you-mean over the family's and the shared options, absent ones at their defaults."""
    from gankit.config import _coerce

    known = {f.name: f for f in option_fields(family)}
    hints = typing.get_type_hints(family.Options)
    values = {}
    for name, value in raw.items():
        if name not in known:
            if name in LEGACY_FLAT_DEFAULTS and value == LEGACY_FLAT_DEFAULTS[name]:
                continue  # a 0.1 config.yaml names every family's options
            choices = [*known, *shared_option_names()]
            raise GankitError(
                f"{source}: unknown option 'model.{name}' for model '{family.name}'",
                f"{did_you_mean(name, choices)} (see `gankit models {family.name}`)",
            )
        if value is None:
            continue
        values[name] = _coerce(value, hints[name], f"model.{name}", source)
    return family.Options(**values)


def is_family_option(name: str) -> bool:
    return any(name in {f.name for f in option_fields(fam)} for _, fam in MODELS.items())


def check_option(name: str, value: Any, family_name: str | None, source: str) -> Any:
    """An option value set before the family is resolved: coerced by the chosen family's field type
    (or, with no family chosen yet, by the first family that has the field); a name no family has is
    refused at once."""
    from gankit.config import _coerce

    if family_name is not None and family_name in MODELS:
        families = [MODELS.get(family_name)]
    else:
        families = [f for _, f in MODELS.items()]
    for family in families:
        if name in {f.name for f in option_fields(family)}:
            return _coerce(value, typing.get_type_hints(family.Options)[name], f"model.{name}", source)
    if name in LEGACY_FLAT_DEFAULTS and value == LEGACY_FLAT_DEFAULTS[name]:
        return value
    if family_name is not None and family_name in MODELS:
        parse_options(families[0], {name: value}, source)  # raises with the family's own did-you-mean
    choices = sorted({f.name for fam in families for f in option_fields(fam)} | set(shared_option_names()))
    raise GankitError(f"{source}: unknown option 'model.{name}'", did_you_mean(name, choices))


def resolve_options(cfg: Config, family: Family, source: str = "config") -> Any:
    """Check ``cfg.model.options`` against the family and store the full, typed set back."""
    options = parse_options(family, cfg.model.options, source)
    cfg.model.options = dataclasses.asdict(options)
    for k, v in cfg.model.options.items():  # YAML-friendly: tuples as lists
        if isinstance(v, tuple):
            cfg.model.options[k] = list(v)
    return options


def model_view(model: ModelConfig | dict[str, Any]) -> types.SimpleNamespace:
    """Shared and family options as one namespace, as the networks read them (``cfg.width``)."""
    if isinstance(model, dict):
        family = family_of(model)
        shared = {k: v for k, v in model.items() if k in shared_option_names()}
        base = {f.name: f.default for f in fields(ModelConfig) if f.name != "options"}
        from gankit.config import DEFAULTS

        base |= {k.partition(".")[2]: v for k, v in DEFAULTS.items() if k.startswith("model.")}
        known = {f.name for f in option_fields(family)}
        # an export of 0.1 names every family's options: those of other families had no effect
        own = {
            k: v
            for k, v in model.items()
            if k not in shared and (k in known or k not in LEGACY_FLAT_DEFAULTS)
        }
        options = parse_options(family, own, "config.json")
        merged = {**base, **shared, **dataclasses.asdict(options)}
    else:
        merged = {
            **{f.name: getattr(model, f.name) for f in fields(ModelConfig) if f.name != "options"},
            **model.options,
        }
    return types.SimpleNamespace(**{k: tuple(v) if isinstance(v, list) else v for k, v in merged.items()})


def describe_options(family: Family) -> list[dict[str, str]]:
    """name, default and one-line help (a field's ``metadata["help"]``) of each family option."""
    out = []
    for f in option_fields(family):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out.append({"option": f"model.{f.name}", "default": str(default), "help": f.metadata.get("help", "")})
    return out
