"""The jobs the app runs, without widgets: QObjects that start jobs on the
:class:`gdapp.workers.JobRunner`, feed the :class:`gdapp.state.AppState` and emit what the
jobs give. The main window wires their signals to the views; the tests drive them with an
``AppState`` (and a runner) alone (``tests/gdapp/test_controller.py``).

- :class:`StructureController` (``loading``): a file, a SMILES, a lattice;
- :class:`TrajectoryController` (``trajectories``): forward and reverse runs;
- :class:`AnalysisController` (``analysis``): the ETKDG comparison and the quality checks;
- :class:`TrainingController` (``training``): training, corpus builds and the plan of what
  Start will do.
"""
from gdapp.controllers.analysis import AnalysisController
from gdapp.controllers.loading import StructureController
from gdapp.controllers.training import TrainingController
from gdapp.controllers.trajectories import TrajectoryController, describe_run

__all__ = ["AnalysisController", "StructureController", "TrainingController", "TrajectoryController",
           "describe_run"]
