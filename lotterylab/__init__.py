"""lotterylab: the support package of the lotterylab course on the lottery ticket hypothesis.

One module per idea; the folder reads like the syllabus.

Where, how big, and the plumbing every chapter shares:
  ``device``, ``seeding``, ``presets``, ``errors``, ``progress``; ``results`` (the one resumable
  results cache); ``reference`` (paper-scale reference runs shipped in ``reference/chNN/``, with
  manifests, loading and re-run checks); ``plotting`` (shared plot helpers: one palette, the axes
  helper, the density axis, the run label); ``widgets`` (controls that switch precomputed panels,
  also in static HTML); ``glue`` (myst-nb's glue in a book build, a printout elsewhere);
  ``book_notebooks`` (the Sphinx extension that offers each page as a student notebook).

Data and networks:
  ``data`` (the shipped MNIST subset, a full-MNIST loader); ``models`` (LeNet-300-100, a small
  ConvNet, the NTK-parameterised MLP).

Part 1, the original hypothesis (chapters 1-2):
  ``pruning`` (masks, magnitude pruning); ``training`` (masked training, the data order that a
  rewound network continues); ``tickets`` (iterative magnitude pruning with reset or rewinding, and
  its controls); ``unit_similarity`` (rescaling-blind comparisons of a network with its start);
  ``sparse_speed`` (dense vs sparse matmul timing); ``interpolation`` (the line between two networks,
  the error barrier); ``stability`` (instability analysis); ``permutation`` (hidden-unit permutations,
  weight matching, the different-init control); ``residual_sign`` (the residual-sign side experiment).

Part 2, tickets without training (chapters 3-5):
  ``supermasks`` (edge-popup and biprop: frozen random weights, trainable scores); ``zhou_masks``
  (Zhou et al.'s masks on trained networks and their ablations); ``binary_connect`` (a binary
  network trained with a straight-through estimator, prize 3's fair baseline); ``multi_prize`` (quantisation,
  multigraph masks, mask overlap); ``width_sweep`` (tickets and trained dense networks against
  width, chapters 3 and 5); ``subset_sum`` (random subset sums); ``strong_lth`` (the pruning
  construction behind the strong-LTH theorems); ``theory_experiments`` (chapter 4's sweeps).

Part 3, tickets and scale (chapters 6-7):
  ``tangent`` (linearised networks, the empirical NTK); ``tangent_fit`` (the one-step tangent solve,
  gradient descent on MSE, movement measures); ``tangent_tickets`` (restricted tangent solves on a
  few parameters); ``tangent_dynamics`` (linearising during Adam training); ``lazy_training``
  (chapter 6's width experiment); ``tangent_tasks`` (chapter 6's two tasks);
  ``two_layer`` (the tiny two-layer network, batched over seeds); ``many_seed`` (the many-seed
  trainer: thousands of tiny networks as one tensor program); ``scaling`` (resumable width sweeps,
  power-law fits); ``ensembling`` (ensembles of tickets); ``ticket_analysis`` (what the best tiny
  networks compute).

The names table: one name per concept, everywhere.

============  ==================  =============================================================
concept       name                meaning
============  ==================  =============================================================
updates       ``steps``           optimiser steps; ``epochs`` only where full passes over the data
                                  are the unit (edge-popup's score training)
counts        ``n_*``             ``n_points``, ``n_seeds``, ``n_trials``... never ``num_*``
kept weights  ``density``         the kept fraction; ``sparsity = 1 - density``; a per-round rate
                                  is ``prune_fraction``
progress      ``progress``        a tqdm-like bar to update, or None: the function makes its own bar
                                  (its mode from ``$LOTTERYLAB_PROGRESS``)
device        ``device=None``     the inputs' device, else :func:`get_device`
dtype         ``dtype``           a ``torch.dtype``
masks         ``Mask``            every function that takes a mask accepts a
                                  :class:`lotterylab.pruning.Mask`
configs       ``*Config``         frozen dataclasses, validated on construction;
                                  ``for_preset(preset, **overrides)``
results       dataclasses         trainers and experiments return dataclasses
seeds         ``seed``/``seeds``  explicit; nothing reseeds the global RNG behind the caller's back
============  ==================  =============================================================

Every bad argument raises :class:`LotteryLabError` naming the argument and what it allows.
Importing the package has no side effects: it seeds nothing, sets no style and opens no connection.

Example:
    >>> import lotterylab
    >>> lotterylab.get_preset("quick")
    'quick'
"""
from lotterylab.device import get_device
from lotterylab.errors import LotteryLabError
from lotterylab.presets import PRESETS, get_preset
from lotterylab.seeding import seed_everything

__version__ = "0.1.0"
__all__ = ["PRESETS", "LotteryLabError", "__version__", "get_device", "get_preset", "seed_everything"]
