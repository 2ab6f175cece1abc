"""`gankit evaluate RUN` for a translator: its held-out pairs, each metric beside its baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gankit.errors import GankitError


def evaluate_translator(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    """Metrics of a trained translator on the held-out pairs of the data it was trained on (the run's
    config.yaml says which: a built-in task, or a folder that must still exist)."""
    from gankit.config import Config
    from gankit.pretrained import family_of_export, find_model_dir
    from gankit.translation.metrics import evaluate_pairs
    from gankit.translation.translator import Translator

    model_dir = find_model_dir(path)
    translator = Translator.from_pretrained(model_dir, device)
    run_yaml = model_dir.parent / "config.yaml"
    if model_dir.name == "model" and run_yaml.is_file():
        cfg = Config.load_yaml(run_yaml)
    else:
        cfg = Config()
        cfg.data.name, cfg.data.resolution = (
            translator.meta["data"]["name"],
            translator.meta["data"]["resolution"],
        )
    try:
        data = family_of_export(translator.meta).load_data(cfg)
    except GankitError as e:
        raise GankitError(f"can't load the pairs this model was trained on: {e.problem}", e.fix) from None
    a, b = (t.to(translator.device) for t in data.holdout)
    if translator.task == "unpaired":  # both directions, the cycle and the domain judges
        from gankit.translation.metrics import evaluate_cycle

        back = Translator.from_pretrained(model_dir, device, "BtoA")
        results = evaluate_cycle({"AtoB": translator.network, "BtoA": back.network}, a, b, data.to(a.device))
    else:
        results = evaluate_pairs(translator.network, a, b, translator.task, translator.scale)
    if data.info.get("holdout_is_train"):
        for r in results.values():
            r["provenance"]["note"] = "too few pairs to hold any out: measured on training images"
    return results
