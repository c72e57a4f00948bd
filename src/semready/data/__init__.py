"""Data sources for semready: ``load_data`` / ``iter_batches`` turn a data spec (``SPEC_HELP``) into
uint8 RGB N×3×H×W tensors. See ``docs/data.md`` and :mod:`semready.data.sources`."""

from semready.data.sources import (
    SPEC_HELP,
    ImageData,
    iter_batches,
    load_data,
    load_run_data,
    parse_spec,
    to_rgb,
)

__all__ = ["SPEC_HELP", "ImageData", "iter_batches", "load_data", "load_run_data", "parse_spec", "to_rgb"]
