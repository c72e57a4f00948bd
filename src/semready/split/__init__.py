"""The split (Sec. III-B): learnability scores on the teacher's output, cluster ranking, policies, routing.

- :mod:`~semready.split.scores`    per-item learnability (``regen``, ``paper``)
- :mod:`~semready.split.regen`     the regen model behind the ``regen`` score
- :mod:`~semready.split.ranking`   cluster confidence C_l, ranks, the per-item / per-cluster tables
- :mod:`~semready.split.policies`  confidence floor, memorizable budget, language-complexity budget
- :mod:`~semready.split.router`    new items through a trained run, batch by batch
"""
