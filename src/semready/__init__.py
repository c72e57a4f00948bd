"""semready: make raw source data semantic-ready (Chaccour & Saad, contrastive disentangling of learnable
and memorizable data for semantic communications).

Modules follow the data's way through the paper: data -> views -> model -> losses -> train -> rank ->
(language -> comm -> kpi -> experiments -> report, in later releases). The CLI (:mod:`semready.cli`) is a thin
shell over :mod:`semready.pipeline`.
"""

__version__ = "0.1.0"
