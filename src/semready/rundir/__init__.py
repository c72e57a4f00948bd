"""The run folder and the reproduction folder: every file's name, reader and writer, in one place.

A run folder (``semready train --out RUN``) holds:

========================  ==================================================================================
``config.yaml``           the resolved config (rerun it with ``--config``)
``checkpoint.safetensors`` tensors and position in one atomic write per epoch (:mod:`semready.teacher.checkpoint`)
``state.json``            a readable copy of the checkpoint's state
``log.csv``               one row per epoch (losses, cluster sizes, marginal entropy, collapse flag)
``tb/``                   TensorBoard events (with the ``tb`` extra)
``samples.csv``           ``index, id, path, cluster, confidence, learnability, rank, split[, label]``: one row per item
``clusters.csv``          ``cluster, size, confidence, rank, learnable_share, split``
``split.json``            the split's score, policy, value and its rule: the learnability threshold, or under a
                          cluster-level policy the learnable clusters (``route`` applies it)
``regen.safetensors``     the regen model fitted on the training stream (scores new data)
``typicality.safetensors`` the stream's embeddings, the k-NN reference of the ``teacher`` score
``plots/``                the ranking and split as PNG files
``splits/<n>/``           earlier splits (samples.csv, clusters.csv, split.json, regen.safetensors), kept by a re-split
``metrics.json``          ACC / NMI / ARI (``semready evaluate``)
``kpis.json``, ``kpis_items.csv``, ``languages/``   the semantic communication KPIs (``semready simulate``)
``rd.json``               the rate–distortion sweep: bits/item against fidelity per codec and scheme (``semready rd``)
``report.html``           the self-contained report (``semready report``)
========================  ==================================================================================

A reproduction folder (``semready reproduce --out DIR``, :class:`SweepDir`) holds ``results.csv``,
``summary.json``, ``report.md``, ``report.html``, the figures and ``jobs/<level>_s<seed>/`` (``job.json`` and the
job's run folder ``run/``, its stream ``stream.npz`` and ``family.npy``).
"""

from semready.rundir.run import RunDir
from semready.rundir.sweep import SweepDir
from semready.rundir.tables import (
    CLUSTER_COLUMNS,
    ID_COLUMNS,
    ITEM_KPI_COLUMNS,
    LOG_COLUMNS,
    ROUTE_COLUMNS,
    SAMPLE_COLUMNS,
    read_rows,
    write_table,
)

__all__ = ["CLUSTER_COLUMNS", "ID_COLUMNS", "ITEM_KPI_COLUMNS", "LOG_COLUMNS", "ROUTE_COLUMNS", "SAMPLE_COLUMNS",
           "RunDir", "SweepDir", "read_rows", "write_table"]
