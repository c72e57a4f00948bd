"""Command-line settings checked before any work: ``--set key=value`` overrides, device names, config warnings.

``--set train.lr=0.1`` names one setting of :class:`~semready.config.SemreadyConfig` by its dotted key; the value
is read as YAML (``0.1`` a number, ``true`` a boolean, ``null`` None, anything else text). Each key and value is
checked on its own, so a typo is answered with one line naming the ``--set`` that caused it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from semready.config import SemreadyConfig
from semready.errors import SemreadyError

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


def check_device(name: str) -> str:
    """A device name as ``train.device`` accepts it, or a one-line error that says what to type instead.

    Args:
        name: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Returns:
        ``name``, unchanged.

    >>> check_device("cuda:1")
    'cuda:1'
    >>> check_device("gpu")
    Traceback (most recent call last):
    ...
    semready.errors.SemreadyError: device 'gpu' is not known: use cuda (or cuda:N) for an NVIDIA GPU; ...
    """
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        gpu = str(name).lower().startswith(("gpu", "cuda", "nvidia"))
        hint = "use cuda (or cuda:N) for an NVIDIA GPU; the devices are" if gpu else "choose one of"
        raise SemreadyError(f"device {name!r} is not known: {hint} {', '.join(DEVICES)}")
    return name


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text  # not YAML: the text itself, which the setting's own check then judges


def parse_sets(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``--set`` pairs as nested overrides, each key and value checked against the config's settings.

    Args:
        pairs: ``section.key=value`` strings.

    Returns:
        section -> setting -> value, for :func:`~semready.config.build_config`'s ``overrides``.

    >>> parse_sets(["train.lr=0.1", "model.clusters=20", "data.image_size=null"])
    {'train': {'lr': 0.1}, 'model': {'clusters': 20}, 'data': {'image_size': None}}
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, eq, text = pair.partition("=")
        key = key.strip()
        if not eq or not key:
            raise SemreadyError(f"--set {pair!r} is not key=value: write it as --set train.lr=0.1 (dotted config "
                                "keys, docs/config.md)")
        section, _, name = key.partition(".")
        value = _parse_value(text)
        _check_setting(pair, section, name, value)
        if name:
            out.setdefault(section, {})[name] = value
        else:
            out[section] = value
    return out


def _check_setting(pair: str, section: str, name: str, value: Any) -> None:
    fields = SemreadyConfig.model_fields
    if section not in fields:
        raise SemreadyError(f"--set {pair}: unknown setting {section!r} (a typo?); use one of the sections "
                            f"{', '.join(fields)} (settings: docs/config.md)")
    model = fields[section].annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)):  # a top-level scalar such as ``preset``
        if name:
            raise SemreadyError(f"--set {pair}: {section} has no settings below it; write --set {section}=VALUE")
        return
    if not name:
        raise SemreadyError(f"--set {pair}: {section} is a section: name one of its settings, e.g. --set "
                            f"{section}.{next(iter(model.model_fields))}=VALUE")
    if name not in model.model_fields:
        raise SemreadyError(f"--set {pair}: unknown setting {section}.{name} (a typo?); {section} has "
                            f"{', '.join(model.model_fields)} (docs/config.md)")
    if section == "train" and name == "device":
        try:
            check_device(value)
        except SemreadyError as exc:
            raise SemreadyError(f"--set {pair}: {exc}") from None
    try:
        setattr(model(), name, value)  # the sections validate assignments: the field's own check
    except ValidationError as err:
        raise SemreadyError(f"--set {pair}: {err.errors()[0]['msg']}; fix the value (see docs/config.md)") from None


def config_warnings(cfg: SemreadyConfig) -> list[str]:
    """What in a valid config will not do what the user likely wants (printed as warnings, not refused).

    Args:
        cfg: the resolved config.

    Returns:
        One line per warning (none for a sensible config).

    >>> config_warnings(SemreadyConfig.model_validate({"train": {"epochs": 2, "warmup_epochs": 2}}))[0][:40]
    'train.epochs (2) <= train.warmup_epochs '
    """
    out = []
    if cfg.train.epochs <= cfg.train.warmup_epochs:
        out.append(f"train.epochs ({cfg.train.epochs}) <= train.warmup_epochs ({cfg.train.warmup_epochs}): the "
                   "cluster head is never trained, so the clusters stay random; raise --epochs or lower "
                   "train.warmup_epochs (--set train.warmup_epochs=N)")
    return out


__all__ = ["DEVICES", "check_device", "config_warnings", "parse_sets"]
