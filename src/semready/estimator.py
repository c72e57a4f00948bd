"""``semready.Disentangler``: the whole method behind ``fit`` / ``transform``, for people who have images in memory.

It sits on top of the facade (:mod:`semready.api`): ``fit`` saves the images as an npz data source and calls
``api.train`` (which trains the teacher and splits the stream with the run's default score and policy);
``transform`` reads the run's per-item table, or sends new items through ``api.route``; ``split`` is
``api.split``. Nothing of the pipeline is repeated here.

>>> Disentangler(epochs=2, clusters=5).config.train.epochs
2
>>> d = Disentangler(train={"epochs": 2}, device="cpu").fit(images)    # doctest: +SKIP
>>> table = d.transform()           # one row per item: id, cluster, confidence, learnability, split  # doctest: +SKIP
>>> routed = d.transform(new_images)                                     # doctest: +SKIP

Tables are pandas DataFrames when pandas is installed; otherwise a dict of equal-length numpy columns (pandas is
not a dependency of semready: ``pandas.DataFrame(table)`` turns the dict into the same frame).
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semready import api, io
from semready.errors import SemreadyError
from semready.rundir import read_rows

COLUMNS = ("id", "cluster", "confidence", "learnability", "split")
_CHANNELS = (1, 3, 4)


def _image_array(x: np.ndarray, where: str) -> np.ndarray:
    """uint8 N×H×W×C (C in 1, 3, 4) from N×H×W×C, N×C×H×W or N×H×W (grayscale); one-line errors otherwise."""
    if x.dtype != np.uint8:
        hint = " (e.g. (x * 255).round().astype(np.uint8) for floats in 0-1)" if x.dtype.kind == "f" else ""
        raise SemreadyError(f"{where}: images are {x.dtype}, not uint8: convert them to uint8 0-255{hint}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise SemreadyError(f"{where}: images have shape {tuple(x.shape)}: pass uint8 N×H×W×C, N×C×H×W "
                            "(C in 1, 3, 4) or N×H×W")
    if x.shape[-1] not in _CHANNELS:
        if x.shape[1] not in _CHANNELS:
            raise SemreadyError(f"{where}: images have shape {tuple(x.shape)}, with no axis of 1, 3 or 4 channels: "
                                "pass uint8 N×H×W×C or N×C×H×W")
        x = x.transpose(0, 2, 3, 1)
    if len(x) == 0 or 0 in x.shape[1:3]:
        raise SemreadyError(f"{where}: no images (shape {tuple(x.shape)}): pass at least one image")
    return np.ascontiguousarray(x)


def _item_array(img: Any, i: int, where: str) -> np.ndarray:
    """One dataset item (PIL image, H×W×C / C×H×W / H×W array or tensor) as uint8 H×W×C."""
    if hasattr(img, "convert") and hasattr(img, "mode"):  # a PIL image
        from semready.data.files import pil_to_array

        img = pil_to_array(img)  # the conversion rule every image source follows (docs/data.md)
    elif isinstance(img, torch.Tensor):
        img = img.detach().cpu().numpy()
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
        raise SemreadyError(f"{where}: item {i} is a {type(img).__name__}, not an image: yield PIL images or uint8 "
                            "H×W×C / C×H×W arrays (or (image, label) pairs)")
    if img.dtype != np.uint8:
        raise SemreadyError(f"{where}: item {i} is a {img.dtype} image, not uint8: yield uint8 images (e.g. "
                            "transforms.PILToTensor() rather than ToTensor())")
    return _image_array(img[None], where)[0]


def _dataset_images(data: Any, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Every item of a map-style dataset, stacked; labels when every item is an (image, integer label) pair."""
    n = len(data)
    if n == 0:
        raise SemreadyError(f"{where}: the dataset is empty: pass at least one image")
    images, labels = [], []
    for i in range(n):
        item = data[i]
        label = None
        if isinstance(item, tuple | list):
            item, label = item[0], (item[1] if len(item) > 1 else None)
        img = _item_array(item, i, where)
        if images and img.shape != images[0].shape:
            raise SemreadyError(f"{where}: item {i} is {img.shape} but item 0 is {images[0].shape}: give the "
                                "dataset a transform that makes every item the same size (e.g. Resize + CenterCrop)")
        images.append(img)
        as_int = label.item() if isinstance(label, torch.Tensor | np.ndarray) and label.size == 1 else label
        labels.append(as_int if isinstance(as_int, int | np.integer) and not isinstance(as_int, bool) else None)
    y = np.array(labels, dtype=np.int64) if all(v is not None for v in labels) else None
    return np.stack(images), y


def as_images(data: Any, where: str = "data") -> tuple[np.ndarray, np.ndarray | None]:
    """Images in memory as uint8 N×H×W×C and labels if the data carries them.

    Args:
        data: a uint8 numpy array or torch tensor, N×H×W×C, N×C×H×W (C in 1, 3, 4) or N×H×W; or a map-style
            torch ``Dataset`` (``len`` and ``[i]``) yielding images (PIL, arrays, uint8 tensors) or (image, label).
        where: names the data in error messages.

    Returns:
        (uint8 N×H×W×C, int64 labels (N,) or None).

    >>> as_images(np.zeros((2, 3, 8, 8), np.uint8))[0].shape
    (2, 8, 8, 3)
    """
    if isinstance(data, torch.Tensor):
        return _image_array(data.detach().cpu().numpy(), where), None
    if isinstance(data, np.ndarray):
        return _image_array(data, where), None
    if hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(data, str | bytes | dict):
        return _dataset_images(data, where)
    raise SemreadyError(f"{where} is a {type(data).__name__}: pass a uint8 array or tensor (N×H×W×C or "
                        "N×C×H×W), a torch Dataset of images, or a data spec string such as 'npz:PATH'")


def _save_npz(path: Path, images: np.ndarray, labels: np.ndarray | None) -> None:
    arrays = {"x": images} if labels is None else {"x": images, "y": labels}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would add ".npz" to a bare temporary name
            np.savez(fh, **arrays)

    io.write_with(path, write)


def _table(rows: list[dict[str, str]], source: str) -> Any:
    """Rows of a per-item CSV (``index, cluster, confidence, learnability, split``) as the :data:`COLUMNS` table."""
    try:
        rows = sorted(rows, key=lambda r: int(r["index"]))
        cols = {"id": np.array([int(r["index"]) for r in rows], dtype=np.int64),
                "cluster": np.array([int(r["cluster"]) for r in rows], dtype=np.int64),
                "confidence": np.array([float(r["confidence"]) for r in rows]),
                "learnability": np.array([float(r["learnability"]) for r in rows]),
                "split": np.array([r["split"] for r in rows], dtype=str)}
    except (KeyError, ValueError, TypeError):
        raise SemreadyError(f"{source} is corrupt: fit again") from None
    try:
        import pandas as pd
    except ImportError:
        return cols
    return pd.DataFrame(cols)


def _config_overrides(overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Keyword overrides as section -> setting -> value: ``train={"epochs": 5}``, or a setting's bare name
    (``epochs=5``) when exactly one section has it."""
    sections = {name: f.annotation for name, f in api.SemreadyConfig.model_fields.items() if name != "preset"}
    out: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        if key in sections:
            if not isinstance(value, dict):
                raise SemreadyError(f"Disentangler({key}=...) takes a dict of {key} settings, e.g. "
                                    f"{key}={{...}}: see docs/config.md")
            out.setdefault(key, {}).update(value)
            continue
        owners = [s for s, cls in sections.items() if key in cls.model_fields]
        if len(owners) != 1:
            what = "unknown setting (a typo?)" if not owners else f"in several sections ({', '.join(owners)})"
            raise SemreadyError(f"Disentangler({key}=...): {what}: pass it as SECTION={{{key!r}: ...}}; settings: "
                                "docs/config.md")
        out.setdefault(owners[0], {})[key] = value
    return out


def _resolve_config(config: Any, overrides: dict[str, dict[str, Any]]) -> api.SemreadyConfig:
    if config is None or (isinstance(config, str) and config in api.PRESETS):
        return api.build_config(config or "quick", overrides=overrides)
    if isinstance(config, api.SemreadyConfig):
        base = config.model_dump(mode="json")
        merged = {s: {**v, **overrides.get(s, {})} if isinstance(v, dict) else v for s, v in base.items()
                  if s != "preset"}
        preset = config.preset if config.preset in api.PRESETS else "quick"
        return api.build_config(preset, overrides=merged)
    if isinstance(config, str | Path):
        return api.build_config("quick", config_file=config, overrides=overrides)
    raise SemreadyError(f"Disentangler(config=...) got a {type(config).__name__}: pass a preset name "
                        f"({', '.join(api.PRESETS)}), a YAML file path or a SemreadyConfig")


class Disentangler:
    """Train a teacher on images and split them into learnable and memorizable, sklearn style.

    Args:
        config: None (the ``quick`` preset), a preset name, a YAML config file or a :class:`SemreadyConfig`.
        out: the run folder (new or empty); default: a temporary folder that lives as long as this object.
            The fitted images are saved beside it as ``<out>.fit.npz`` (its config.yaml names them, so
            ``semready split/simulate/report`` work on it later).
        backbone: your own ψ (``torch.nn.Module``, images float N×3×H×W -> features N×F) instead of
            ``model.encoder``; it is registered (:func:`semready.register_backbone`), so the run loads again
            only in this process.
        progress: show progress bars while training.
        **overrides: config settings, by section (``train={"epochs": 5}``) or by a name only one section has
            (``epochs=5``, ``clusters=20``, ``device="cpu"``).

    Attributes:
        config: the resolved config (bad settings fail here, before any training).
        run_dir: the fitted run folder (None before :meth:`fit`).
        summary: :func:`semready.api.train`'s result of the last fit.
    """

    def __init__(self, config: Any = None, *, out: str | Path | None = None, backbone: torch.nn.Module | None = None,
                 progress: bool = False, **overrides: Any):
        over = _config_overrides(overrides)
        if backbone is not None:
            from semready.teacher.backbones import register_backbone

            name = register_backbone(f"{type(backbone).__name__}-{id(backbone):x}", backbone)
            over.setdefault("model", {})["encoder"] = name
        self.config = _resolve_config(config, over)
        self.out = Path(out) if out is not None else None
        self.progress = progress
        self.run_dir: Path | None = None
        self.summary: dict[str, Any] | None = None
        self._fits = 0
        self.workdir = Path(tempfile.mkdtemp(prefix="semready-"))
        # the temporary folder goes with the object (a default run folder in it too)
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.workdir), True)

    def fit(self, data: Any, labels: Any = None) -> Disentangler:
        """Train the teacher on ``data`` and split it (the run's default score and policy).

        Args:
            data: uint8 N×H×W×C or N×C×H×W (numpy or torch; C in 1, 3, 4), a torch ``Dataset`` of images or
                (image, label) pairs, or a data spec string (``sample``, ``npz:PATH``, ``folder:PATH``, ...).
            labels: optional integer labels (N,), kept in the run's samples.csv (``semready evaluate``).

        Returns:
            self.
        """
        self._fits += 1
        run = self.out if self.out is not None else self.workdir / f"run{self._fits}"
        if isinstance(data, str):
            spec = data
        else:
            images, found = as_images(data, "fit(data)")
            if labels is not None:
                found = np.asarray(labels)
                if found.shape != (len(images),) or found.dtype.kind not in "iu":
                    raise SemreadyError(f"fit(labels=...): {found.dtype} {found.shape} for {len(images)} images: "
                                        "pass one integer label per image")
            path = run.parent / f"{run.name}.fit.npz"
            if self.out is not None:
                run.parent.mkdir(parents=True, exist_ok=True)
            _save_npz(path, images, found)
            spec = f"npz:{path}"
        cfg = self.config.model_copy(update={"data": self.config.data.model_copy(update={"spec": spec})})
        self.summary = api.train(run, cfg, progress=self.progress)
        self.run_dir = run
        return self

    def _fitted(self) -> Path:
        if self.run_dir is None:
            raise SemreadyError("this Disentangler is not fitted yet: call .fit(data) first")
        return self.run_dir

    def transform(self, data: Any = None) -> Any:
        """The split of the fitted items, or of new items routed through the trained teacher.

        Args:
            data: None for the fitted items; else new items in any form :meth:`fit` takes (resized to the run's
                image size, scored with the run's learnability score and threshold).

        Returns:
            A table with one row per item, in item order: ``id`` (the item's index), ``cluster``,
            ``confidence`` (c_i), ``learnability`` (s_i), ``split`` (``learnable`` / ``memorizable``) — a pandas
            DataFrame if pandas is installed, else a dict of numpy columns.

        Routing the fitted items again gives the same clusters and confidences. Under a cross-fitted learnability
        score (``regen``) it may not give the same learnability: the fitted items were each scored by a model
        that did not see them, new items by the model fitted on all of them.
        """
        run = self._fitted()
        if data is None:
            files = api.RunDir(run)
            return _table(files.read_sample_rows(), str(files.samples))
        if isinstance(data, str):
            spec = data
        else:
            _save_npz(self.workdir / "route.npz", as_images(data, "transform(data)")[0], None)
            spec = f"npz:{self.workdir / 'route.npz'}"
        out_csv = self.workdir / "routed.csv"
        api.route(run, spec, out_csv)
        return _table(read_rows(out_csv, "route again"), str(out_csv))

    def fit_transform(self, data: Any, labels: Any = None) -> Any:
        """:meth:`fit`, then :meth:`transform` of the fitted items."""
        return self.fit(data, labels).transform()

    def split(self, policy: str, value: float, score: str | None = None) -> dict[str, Any]:
        """Re-split the fitted run (:func:`semready.api.split`); :meth:`transform` then reports the new split.

        Args:
            policy: a split policy (``semready.api.POLICIES``).
            value: the policy's value.
            score: a learnability score (``semready.api.SCORES``); None keeps the run's.

        Returns:
            The split's summary.
        """
        return api.split(self._fitted(), policy=policy, value=value, score=score)


__all__ = ["COLUMNS", "Disentangler", "as_images"]
