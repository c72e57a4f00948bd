"""Reading, merging and writing configs: presets, the user's YAML file, overrides, a run's ``config.yaml``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from semready.config.sections import PRESETS, SemreadyConfig
from semready.errors import SemreadyError


def _format_validation_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "config"
    msg, fix = first["msg"], "fix the value (see docs/config.md)"
    if first["type"] == "extra_forbidden":
        msg, fix = "unknown setting (a typo?)", "remove or rename it (settings: docs/config.md)"
    return f"invalid config in {source}: {where}: {msg}; {fix}"


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_text(path: Path, fix: str) -> str:
    if not path.is_file():
        raise SemreadyError(f"config {path} {'is a directory' if path.is_dir() else 'does not exist'}: {fix}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SemreadyError(f"config {path} is not text (binary or not UTF-8): {fix}") from None
    except OSError as exc:
        raise SemreadyError(f"cannot read config {path} ({exc.strerror or exc}): {fix}") from None


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        at = f" at line {line + 1}" if line is not None else ""
        raise SemreadyError(f"config {source} is not valid YAML{at}: fix its syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SemreadyError(f"config {source} is a YAML {type(data).__name__} but must be a YAML mapping: write it as "
                            "sections, e.g. `train: {epochs: 5}` (see docs/config.md)")
    return data


def preset_dict(name: str) -> dict[str, Any]:
    """A preset's YAML as a nested dict (not validated).

    Args:
        name: one of :data:`PRESETS`.

    Returns:
        The preset's settings, section -> setting -> value.
    """
    if name not in PRESETS:
        raise SemreadyError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    text = resources.files("semready.configs").joinpath(f"{name}.yaml").read_text()
    return _read_yaml(text, f"preset {name}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A user's YAML config file as a nested dict, not yet merged or validated (one-line errors if unreadable).

    Args:
        path: the YAML file.

    Returns:
        section -> setting -> value.
    """
    path = Path(path)
    if not path.is_file():
        raise SemreadyError(f"config file {path} does not exist: check the path")
    return _read_yaml(_read_text(path, "save it as UTF-8 YAML text"), str(path))


def build_config(
    preset: str = "quick", config_file: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> SemreadyConfig:
    """Preset, then the user's YAML file, then explicit overrides (nested dicts), validated once.

    Args:
        preset: one of :data:`PRESETS`; a ``preset`` key in the file is recorded instead.
        config_file: a user's YAML file, or None.
        overrides: section -> setting -> value, applied last.

    Returns:
        The validated config; an invalid one is a one-line :class:`SemreadyError`.

    >>> build_config("quick", overrides={"train": {"epochs": 3}}).train.epochs
    3
    """
    raw = preset_dict(preset)
    source = f"preset {preset}"
    if config_file is not None:
        path = Path(config_file)
        user = read_config_file(path)
        raw = _deep_merge(raw, user)
        preset = user.get("preset", preset)
        source = str(path)
    raw = _deep_merge(raw, overrides or {})
    raw["preset"] = preset
    try:
        return SemreadyConfig.model_validate(raw)
    except ValidationError as err:
        raise SemreadyError(_format_validation_error(err, source)) from None


def load_config_file(path: str | Path) -> SemreadyConfig:
    """A run's resolved ``config.yaml`` (no preset merging).

    Args:
        path: the file.

    Returns:
        The validated config.
    """
    path = Path(path)
    raw = _read_yaml(_read_text(path, "restore it, or retrain the run"), str(path))
    try:
        return SemreadyConfig.model_validate(raw)
    except ValidationError as err:
        raise SemreadyError(_format_validation_error(err, str(path))) from None


def dump_config(cfg: SemreadyConfig) -> str:
    """The config as YAML text, sections in declaration order (what ``config.yaml`` holds).

    >>> dump_config(SemreadyConfig()).splitlines()[0]
    'preset: quick'
    """
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
