"""Typed run configuration: dataclasses, YAML, ``--set key=value`` overrides, recipe resolution.

A field left at ``None`` means "auto": :func:`resolve` fills it from the dataset's recipe (the
settings known to work for that data and model), then from the loss's recommendations, then from
the global defaults below. The resolved config is what a run directory records.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from gankit.errors import GankitError, did_you_mean


@dataclass
class DataConfig:
    name: str = "mnist"  # a registered dataset (`gankit datasets`) or a path: image folder, .npy, .npz
    resolution: int | None = None  # images: resize/centre-crop to this size (None: the data's own)
    channels: int | None = None  # images from a folder: 1 (grayscale) or 3 (RGB); None: as stored
    discrete: str | None = None  # tables: discrete columns, comma-separated (added to those inferred)
    metadata: str | None = None  # tables: an SDV-style metadata file (.json/.yaml) of column types
    # image pairs (translation): which half of an A|B image (or which folder) is the input; the size the
    # short side is resized to before random crops of `resolution` (None: as stored); random flips
    direction: Literal["AtoB", "BtoA"] = "AtoB"
    load_size: int | None = None
    flip: bool | None = None  # None: the task's choice (photos yes, digits and text no)
    # random vertical flips and transposes too (with `flip`: all eight rotations and mirrors of a
    # square crop); None: the task's choice (super-resolution of photos yes, others no)
    rotate: bool | None = None


@dataclass
class ModelConfig:
    """The options every family shares; a family's own options (``model.width``, ...) live in
    ``options`` until resolution checks them against the family's dataclass (models/base.py)."""

    name: str | None = None  # `gankit models`; auto: the dataset's recommended family
    latent_dim: int | None = None
    prior: Literal["gaussian", "uniform"] = "gaussian"
    conditional: bool | None = None  # condition G and D on the labels (auto: the dataset's recipe)
    cond_d: Literal["projection", "concat"] | None = None  # how D sees labels (auto: recipe, else projection)
    d_norm: Literal["auto", "batch", "layer", "none"] = "auto"  # auto: the family's choice for the loss
    pack: int | None = None  # PacGAN (Lin et al. 2018): D judges `pack` samples at once
    mbstd: int | None = None  # minibatch standard deviation in D (Karras 2018): group size (0: off)
    spectral_norm: bool | None = None  # spectral normalisation of D's layers (Miyato 2018)
    init: Literal["normal", "xavier", "he"] = "normal"
    # the family's own options by name (`gankit models NAME` lists them); flat in YAML beside the above
    options: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # a family option reads like a field (cfg.model.width); only called when no field matched
        options = self.__dict__.get("options")
        if options is not None and name in options:
            return options[name]
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _MODEL_FIELDS or name.startswith("_"):
            object.__setattr__(self, name, value)
        else:  # cfg.model.width = 32 sets the family option, as --set model.width=32 does
            self.options[name] = value


_MODEL_FIELDS = {f.name for f in fields(ModelConfig)}


@dataclass
class LossConfig:
    name: str = "nonsat"  # `gankit losses`
    gp_weight: float = 10.0  # wgan-gp: weight of the gradient penalty
    clip: float = 0.01  # wasserstein: critic weights are clipped to [-clip, clip]
    r1: float | None = None  # weight gamma of the R1 penalty gamma/2 E||grad D(x_real)||^2 (Mescheder 2018)
    r2: float | None = None  # the same penalty on generated samples (R2)
    # lazy regularisation (Karras et al. 2020): R1/R2 on every k-th iteration, weighted by k
    reg_every: int = 1
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - s (minimax, nonsat, lsgan)
    instance_noise: float = 0.0  # std of Gaussian noise added to D's inputs, annealed to 0
    augment: str | None = None  # DiffAugment policy for D's inputs, e.g. "translation,cutout" ("none": off)
    # "ada" in loss.augment: adaptive augmentation (models/ada.py), p steered toward r_t = ada_target,
    # moving by at most 1 per ada_kimg thousand real images, adjusted every ada_interval steps
    ada_target: float = 0.6
    ada_kimg: float = 100.0
    ada_interval: int = 4


@dataclass
class OptimConfig:
    optimizer: Literal["auto", "adam", "rmsprop"] = "auto"
    lr_g: float | None = None
    lr_d: float | None = None
    betas_g: tuple[float, float] | None = None
    betas_d: tuple[float, float] | None = None
    n_critic: int | None = None  # discriminator steps per generator step
    schedule: Literal["constant", "linear", "cosine"] | None = None  # learning rate over the run
    ema: float | None = None  # decay of the generator's EMA (0: off); sampling uses the EMA weights
    ema_start: int = 0  # step from which the EMA averages (before it, it copies)
    d_warmup: int = 0  # discriminator-only steps before the game starts


@dataclass
class TrainConfig:
    steps: int | None = None  # generator steps
    epochs: int | None = None  # passes over the data; when set, steps = epochs x the family's steps per epoch
    # wall-clock budget: train.steps becomes the most steps that fit (measured on this machine, see
    # training/budget.py), every schedule following that length; train.steps stays the cap
    minutes: float | None = None
    batch_size: int | Literal["auto"] | None = None  # per process; "auto": largest that fits memory_budget_mb
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    log_every: int = 100  # a tick: stats.jsonl line, progress-bar update
    sample_every: int | None = None  # fakes_<step>.png from fixed latents (auto: 10 per run)
    checkpoint_every: int | None = None  # auto: 4 per run
    keep_checkpoints: int = 2
    threads: int | None = None  # CPU threads (None: torch's default)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # mixed precision via torch.amp (fp16: CUDA only)
    compile: bool = False  # torch.compile the networks (opt-in: slow first steps, see docs/benchmarks.md)
    channels_last: bool | None = None  # NHWC memory layout for conv nets (auto: on for image models)
    memory_budget_mb: int | None = None  # for batch_size=auto (auto: 80% of free GPU memory; CPU 1,500)


@dataclass
class MonitorConfig:
    """Evaluation during training, best-model keeping, warnings and rollback on divergence."""

    eval_every: int | None = None  # steps between evaluations (auto: 10 per run, >= 500 apart; 0: off)
    metrics: str | None = None  # comma-separated (auto: the data's headline metric, e.g. modes_ring8)
    eval_n: int | None = None  # generated samples per evaluation (auto: the metrics' cheap count)
    keep_best: str | None = None  # metric[.key] to keep the best model by, in best/ ("none": off)
    max_rollbacks: int = 3  # on NaN/inf: back to the last good checkpoint, at most this many times
    rollback_lr_factor: float = 0.5  # ... multiplying both learning rates by this each time
    collapse_ticks: int = 5  # ticks of D(x)->1, D(G(z))->0 before a warning


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        options = out["model"].pop("options")
        out["model"] = {**out["model"], **options}  # one flat section, as in YAML
        for section in out.values():  # YAML-friendly: tuples as lists
            for k, v in section.items():
                if isinstance(v, tuple):
                    section[k] = list(v)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> Config:
        cfg = cls()
        for section, values in (d or {}).items():
            if not isinstance(values, dict):
                raise GankitError(f"{source}: '{section}' must be a mapping", _sections_hint())
            for key, value in values.items():
                set_value(cfg, f"{section}.{key}", value, source=source)
        return cfg

    def save_yaml(self, path: Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load_yaml(cls, path: str | Path) -> Config:
        path = Path(path)
        if not path.is_file():
            raise GankitError(f"config file not found: {path}", "check the path passed to --config")
        try:
            d = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            line = getattr(getattr(e, "problem_mark", None), "line", None)
            at = f" (line {line + 1})" if line is not None else ""
            raise GankitError(f"{path} is not valid YAML{at}", "fix the syntax of the file") from None
        if d is not None and not isinstance(d, dict):
            raise GankitError(f"{path} must hold a mapping of sections", _sections_hint())
        return cls.from_dict(d or {}, source=str(path))


def _sections_hint() -> str:
    return "sections are: " + ", ".join(f.name for f in fields(Config))


def _field_type(obj: Any, name: str) -> Any:
    hints = typing.get_type_hints(type(obj))
    return hints[name]


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Convert a YAML/CLI value to the annotated type, or raise a one-line error."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        for a in args:  # a literal option spelled "auto" (batch_size) wins over None's "auto"
            if typing.get_origin(a) is Literal and isinstance(value, str) and value in typing.get_args(a):
                return value
        auto = value is None or (isinstance(value, str) and value.lower() in ("null", "auto"))
        if auto and type(None) in args:  # None means "auto": filled in by the recipes
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key, source)
            except GankitError as e:
                errors.append(e)
        raise errors[0]
    if origin is Literal:
        if value not in args:
            raise GankitError(
                f"{source}: {key}={value!r} is not a valid option", did_you_mean(str(value), list(args))
            )
        return value
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.strip("()[] ").split(",") if v.strip()]
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[int, ...]: any length
            if not isinstance(value, (list, tuple)):
                value = [value]
            return tuple(_coerce(v, args[0], key, source) for v in value)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise GankitError(
                f"{source}: {key} needs {len(args)} comma-separated values", f"e.g. {key}=0.5,0.999"
            )
        return tuple(_coerce(v, a, key, source) for v, a in zip(value, args, strict=True))
    try:
        if tp is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes", "on"):
                    return True
                if value.lower() in ("false", "0", "no", "off"):
                    return False
                raise ValueError
            return bool(value)
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            if isinstance(value, bool):
                raise ValueError
            return int(float(value)) if isinstance(value, str) and "e" in value.lower() else int(value)
        if tp is float:
            return float(value)
        if tp is str:
            return str(value)
    except (TypeError, ValueError):
        raise GankitError(
            f"{source}: {key}={value!r} is not a valid {tp.__name__}", f"give {key} a {tp.__name__} value"
        ) from None
    return value


def set_value(cfg: Config, key: str, value: Any, source: str = "--set") -> None:
    """Set a dotted key like ``model.width`` (the section may be omitted when the name is unique)."""
    section_name, _, name = key.partition(".")
    if not name:  # bare key: find the one section that has it
        owners = [f.name for f in fields(cfg) if name_in(getattr(cfg, f.name), key)]
        if not owners:
            from gankit.models.base import is_family_option

            if is_family_option(key):
                owners = ["model"]
        if len(owners) != 1:
            raise GankitError(f"{source}: unknown option '{key}'", f"use section.key, e.g. {_example_keys()}")
        section_name, name = owners[0], key
    if section_name not in {f.name for f in fields(cfg)}:
        raise GankitError(f"{source}: unknown section '{section_name}'", _sections_hint())
    section = getattr(cfg, section_name)
    known = [f.name for f in fields(section) if f.name != "options"]
    if section_name == "model" and name not in known:
        # a family's own option: checked now against the families that have it, and against the
        # chosen family's dataclass when the config is resolved
        from gankit.models.base import check_option

        section.options[name] = check_option(name, value, section.name, source)
        return
    if name not in known:
        raise GankitError(f"{source}: unknown option '{section_name}.{name}'", did_you_mean(name, known))
    setattr(section, name, _coerce(value, _field_type(section, name), f"{section_name}.{name}", source))


def name_in(section: Any, name: str) -> bool:
    return any(f.name == name for f in fields(section))


def _example_keys() -> str:
    return "model.width=32, train.steps=2000"


def apply_overrides(cfg: Config, pairs: list[str]) -> Config:
    """Apply ``key=value`` strings (YAML-parsed values, so 1e-4 and true work)."""
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        if not eq or not key:
            raise GankitError(f"--set expects key=value, got '{pair}'", "e.g. --set model.width=32")
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        set_value(cfg, key.strip(), value)
    return cfg


def merge_missing(cfg: Config, recipe: dict[str, Any]) -> None:
    """Fill fields that are still ``None`` from a ``{"section.key": value}`` recipe."""
    for key, value in recipe.items():
        section_name, _, name = key.partition(".")
        section = getattr(cfg, section_name)
        if section_name == "model" and not name_in(section, name):  # a family option: missing until set
            if section.options.get(name) is None:
                section.options[name] = value
        elif getattr(section, name) is None:
            set_value(cfg, key, value, source="recipe")


# Global fallbacks of the shared options, applied after the recipes (a family's own options take
# their dataclass defaults).
DEFAULTS: dict[str, Any] = {
    "model.conditional": False,
    "model.cond_d": "projection",
    "model.pack": 1,
    "model.mbstd": 0,
    "model.spectral_norm": False,
    "loss.r2": 0.0,
    "optim.schedule": "constant",
    "loss.r1": 0.0,
    "loss.augment": "none",
    "model.latent_dim": 64,
    "optim.lr_g": 2e-4,
    "optim.lr_d": 2e-4,
    "optim.betas_g": (0.5, 0.999),
    "optim.betas_d": (0.5, 0.999),
    "optim.n_critic": 1,
    "optim.ema": 0.999,
    "train.steps": 5000,
    "train.batch_size": 64,
}


def copy_config(cfg: Config) -> Config:
    out = dataclasses.replace(cfg, **{f.name: dataclasses.replace(getattr(cfg, f.name)) for f in fields(cfg)})
    out.model.options = dict(cfg.model.options)
    return out
