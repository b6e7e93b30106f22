"""HRNet training: loss, trainer loop, hooks, checkpoints (import the submodules).

Kept import-free so that ``posetrack.experiment`` can use ``posetrack.train.config``
without pulling in torch.
"""
