"""Runs spread over a Ray cluster (the ``scale`` extra; docs/SCALE.md).

``cluster.py`` joins or starts Ray, ``pool.py`` runs jobs on a pool of actors (each builds
its engine once; a job whose worker dies is given to another), ``results.py`` keeps finished
problems keyed by RunSpec and problem id so a rerun skips them, ``ray_eval.py`` is
``canopy eval --ray`` and ``evolve_search.py`` the search stage of ``canopy evolve --ray``.
Ray is imported inside functions only: ``import backend.scale`` loads nothing heavy.
"""
