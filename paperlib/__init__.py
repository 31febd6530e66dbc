"""paperlib: reproduce *Probing clustering in neural network representations* (Nguyen & Kornblith).

Train on superclass labels, take every probe point's embeddings of the validation images,
Ward-cluster them within each superclass and score the clusters against the hidden subclasses.

Modules, one concept each, in the pipeline's order: :mod:`~paperlib.names` (the valid names),
:mod:`~paperlib.config` (profiles, paths), :mod:`~paperlib.hierarchy`, :mod:`~paperlib.breeds`,
:mod:`~paperlib.data` (a package: splits, readers, preprocessing, augmentation, batches),
:mod:`~paperlib.models`, :mod:`~paperlib.losses`, :mod:`~paperlib.train`, :mod:`~paperlib.extract`,
:mod:`~paperlib.cluster`, :mod:`~paperlib.metrics`, :mod:`~paperlib.scoring` (the per-layer score),
:mod:`~paperlib.cache`, :mod:`~paperlib.inventory`, :mod:`~paperlib.provenance` (code version and
data identity in the cache keys), :mod:`~paperlib.experiment` (the cached pipeline),
:mod:`~paperlib.checkpoints`, :mod:`~paperlib.foreign` and :mod:`~paperlib.report` (the probe on
one's own model and images), :mod:`~paperlib.claims`, :mod:`~paperlib.plots`,
:mod:`~paperlib.testing` (fixtures), :mod:`~paperlib.cli`.
Importing the package has no side effects.
"""

from importlib.metadata import PackageNotFoundError, version

try:  # the version is written once, in pyproject.toml; the installed metadata carries it
    __version__ = version("paperlib")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
