"""Versionable run configuration: pydantic models, YAML presets and overrides.

A run is fully described by one :class:`SemreadyConfig`; ``config.yaml`` in every run directory holds the
resolved config, so the run can be repeated from that file alone. Presets live in ``semready/configs/``:

- ``quick``: CPU-sized (small CNN, batch 256, ~20 epochs on the embedded sample), the default without a GPU;
- ``paper``: the paper's settings (SGD, lr 0.02, batch 32, 200 epochs, ω = 0.9, τ = 0.1, η = ε = 1, ResNet-18).

The sections live in :mod:`semready.config.sections`, reading and writing in :mod:`semready.config.files`.
"""

from semready.config.files import build_config, dump_config, load_config_file, preset_dict, read_config_file
from semready.config.sections import (
    PRESETS,
    BankConfig,
    CommConfig,
    DataConfig,
    LossConfig,
    ModelConfig,
    RankConfig,
    SemreadyConfig,
    TrainConfig,
    ViewsConfig,
    resolve_preset,
)

__all__ = ["PRESETS", "BankConfig", "CommConfig", "DataConfig", "LossConfig", "ModelConfig", "RankConfig",
           "SemreadyConfig", "TrainConfig", "ViewsConfig", "build_config", "dump_config", "load_config_file",
           "preset_dict", "read_config_file", "resolve_preset"]
