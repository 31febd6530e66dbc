"""paperlib: reproduce *Probing clustering in neural network representations* (Nguyen & Kornblith).

Train on superclass labels, take every probe point's embeddings of the validation images,
Ward-cluster them within each superclass and score the clusters against the hidden subclasses.

Modules, one concept each: :mod:`~paperlib.config` (profiles, paths), :mod:`~paperlib.hierarchy`,
:mod:`~paperlib.data`, :mod:`~paperlib.models`, :mod:`~paperlib.losses`, :mod:`~paperlib.train`,
:mod:`~paperlib.extract`, :mod:`~paperlib.cluster`, :mod:`~paperlib.metrics`, :mod:`~paperlib.cache`,
:mod:`~paperlib.provenance` (code version and data identity in the cache keys),
:mod:`~paperlib.experiment` (the cached pipeline), :mod:`~paperlib.plots`, :mod:`~paperlib.cli`.
Importing the package has no side effects.
"""

__version__ = "0.1.0"
