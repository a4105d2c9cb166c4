"""The names of the :class:`gdapp.workers.JobRunner` slots, in one place.

A slot holds at most one job: starting a job in a slot cancels the one before it. The
trajectory slots are named as the trajectory kinds they fill ("forward", "reverse").
"""
from __future__ import annotations


class JobSlot:
    LOAD = "load"                 # open a file or SMILES, build a lattice
    FORWARD = "forward"           # the forward (noising) trajectory
    REVERSE = "reverse"           # reverse sampling
    COMPARE = "compare"           # the ETKDG reference conformer
    RMSD = "rmsd"                 # heavy-atom RMSD of the generated / input conformer to ETKDG
    QUALITY = "quality"           # the quality table's checks
    TRAIN = "train"               # training or a corpus build (the training panel)
    TRAIN_PLAN = "train-plan"     # what Start will do (the training panel)

    ALL = (LOAD, FORWARD, REVERSE, COMPARE, RMSD, QUALITY, TRAIN, TRAIN_PLAN)
    # the training panel's own jobs: it stops them itself (Pause / Stop) and on close
    TRAINING = (TRAIN, TRAIN_PLAN)
    # what Cancel (Esc, the status bar's button) stops: every slot but the training panel's
    CANCELLABLE = (LOAD, FORWARD, REVERSE, COMPARE, RMSD, QUALITY)
    TRAJECTORIES = (FORWARD, REVERSE)
