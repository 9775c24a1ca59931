"""lotterylab: the support package of the lotterylab course on the lottery ticket hypothesis.

One module per idea; the folder reads like the syllabus:

- :mod:`lotterylab.device`, :mod:`lotterylab.seeding`, :mod:`lotterylab.presets`: where and how big;
- :mod:`lotterylab.data`: the shipped MNIST subset and a full-MNIST loader;
- :mod:`lotterylab.models`: LeNet-300-100;
- :mod:`lotterylab.pruning`: masks and magnitude pruning;
- :mod:`lotterylab.training`: masked training and evaluation;
- :mod:`lotterylab.tickets`: iterative magnitude pruning with reset/rewinding and its controls;
- :mod:`lotterylab.stability`: linear interpolation between networks, the error barrier, instability
  analysis; :mod:`lotterylab.residual`: the residual-sign side experiment;
- :mod:`lotterylab.supermasks`: edge-popup and biprop (frozen random weights, trainable scores),
  supermask ablations, quantisation, mask overlap; :mod:`lotterylab.subset_sum`: random subset sums
  and the pruning construction behind the strong lottery ticket theorems;
- :mod:`lotterylab.tangent`: linearised networks, the empirical NTK and the one-step tangent solve;
- :mod:`lotterylab.ensembling`: many tiny two-layer networks trained at once (one tensor program over
  seeds); :mod:`lotterylab.scaling`: resumable width sweeps, power-law fits and ticket analyses;
- :mod:`lotterylab.results`, :mod:`lotterylab.progress`: resumable results and progress bars;
- :mod:`lotterylab.plotting`: plots that take and return a matplotlib ``Axes``;
- :mod:`lotterylab.widgets`: controls that switch precomputed panels, also in the static HTML.

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
