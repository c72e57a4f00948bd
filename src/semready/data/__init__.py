"""Data sources for semready: ``load_data`` / ``iter_batches`` turn a data spec (``SPEC_HELP``) into
uint8 RGB N×3×H×W tensors. See ``docs/data.md`` and :mod:`semready.data.sources`."""

from semready.data.identity import check_data_identity, data_identity
from semready.data.sources import (
    SPEC_HELP,
    ImageData,
    absolute_spec,
    iter_batches,
    load_data,
    load_run_data,
    parse_spec,
    to_rgb,
)
from semready.data.stream import StreamedImages, ordered_batches

__all__ = ["SPEC_HELP", "ImageData", "absolute_spec", "check_data_identity", "data_identity", "iter_batches",
           "load_data", "load_run_data", "ordered_batches", "parse_spec", "StreamedImages", "to_rgb"]
