"""Quality of generated conformers, measured the way the field measures it.

- ``engine.metrics.rmsd``: ``rmsd_matrix(ref, gen)`` (heavy-atom, symmetry-aware best RMSD,
  ``(K_ref, K_gen)``), ``coverage_metrics(R, threshold)`` (COV-R, AMR-R, COV-P, AMR-P),
  ``aggregate_metrics(per_molecule)`` (mean and median over molecules).
- ``engine.metrics.validity``: ``posebusters_pass(mols)`` (PoseBusters "mol" on every
  conformer), ``quick_checks(mol, conf_id)`` (bond lengths, clashes, MMFF energy).
- ``engine.metrics.baselines``: ``etkdg_conformers(mol, num_confs, ...)`` (ETKDGv3 + MMFF).
- ``engine.metrics.evaluation``: ``evaluate_files`` / ``evaluate_records`` (what
  ``python -m engine evaluate`` runs), ``format_table``.

Submodules import RDKit; import them explicitly.
"""
