"""How a backbone is named in ``model.encoder``, checked when a config is read (before any run folder exists)."""

from __future__ import annotations

import re

from semready.errors import SemreadyError

BACKBONE_NAMING = ("small_cnn, resnet18, torchvision:NAME (a torchvision classification model, e.g. "
                   "torchvision:resnet50), timm:NAME (needs pip install timm) or module:NAME (registered with "
                   "semready.register_backbone)")
_BACKBONE = re.compile(r"^(small_cnn|resnet18|(torchvision|timm|module):[A-Za-z0-9_.\-]+)$")


def check_backbone_name(name: str) -> str:
    """``name`` if it is spelled as a backbone (:data:`BACKBONE_NAMING`) and a ``torchvision:`` one exists; else a
    one-line :class:`SemreadyError` saying how to name one.

    >>> check_backbone_name("torchvision:resnet50")
    'torchvision:resnet50'
    """
    if not isinstance(name, str) or not _BACKBONE.match(name):
        raise SemreadyError(f"unknown backbone {name!r}: name one as {BACKBONE_NAMING}")
    kind, _, arch = name.partition(":")
    if kind == "torchvision":
        from torchvision import models  # on demand: `import semready.config` stays light
        if arch not in models.list_models(module=models):
            raise SemreadyError(f"unknown backbone {name!r}: torchvision has no classification model {arch!r} "
                                "(torchvision.models.list_models(module=torchvision.models)); name one as "
                                f"{BACKBONE_NAMING}")
    return name
