"""The split (Sec. III-B): learnability scores on the teacher's output, cluster ranking, policies, routing.

- :mod:`~semready.split.scores`    per-item learnability (``teacher``, the default; ``regen``; ``paper``)
- :mod:`~semready.split.typicality` an item's typicality in the teacher's embedding (the ``teacher`` score)
- :mod:`~semready.split.regen`     the regen model (the ``regen`` score, the ``teacher`` score's description test)
- :mod:`~semready.split.ranking`   cluster confidence C_l, ranks, the per-item / per-cluster tables
- :mod:`~semready.split.policies`  confidence floor, memorizable budget, language-complexity budget, and the
                                   paper's cluster-level rule (whole least-confident clusters)
- :mod:`~semready.split.router`    new items through a trained run, batch by batch
"""
