"""The teacher (Sec. III): a contrastive model trained on the raw stream X.

- :mod:`~semready.teacher.views`        the perturbations χ1, χ2
- :mod:`~semready.teacher.backbones`    backbones ψ (small CNN, ResNet-18, torchvision/timm by name, your modules)
- :mod:`~semready.teacher.weights`      local weights files for a backbone, read without unpickling
- :mod:`~semready.teacher.heads`        encoder ψ_κ (backbone + projection), momentum copy, cluster head φ
- :mod:`~semready.teacher.bank`         the memory bank of stale keys, organised per cluster C_l
- :mod:`~semready.teacher.losses`       eq. 2, 3, 4 and anti-collapse, one function each; ``TeacherLoss``
- :mod:`~semready.teacher.model`        ``Teacher``: the modules and their step (forward, EMA, enqueue)
- :mod:`~semready.teacher.train`        ``Trainer``: schedule, SGD, checkpoints, logs, DDP
- :mod:`~semready.teacher.infer`        a trained teacher at work: clusters and confidences of items
- :mod:`~semready.teacher.checkpoint`, :mod:`~semready.teacher.distributed`, :mod:`~semready.teacher.device`,
  :mod:`~semready.teacher.tb`, :mod:`~semready.teacher.metrics` (ACC / NMI / ARI)
"""

from semready.teacher.infer import Assignment, TrainedRun, load_run
from semready.teacher.losses import TeacherLoss
from semready.teacher.model import Teacher, TeacherOutput
from semready.teacher.train import Trainer

__all__ = ["Assignment", "Teacher", "TeacherLoss", "TeacherOutput", "TrainedRun", "Trainer", "load_run"]
