"""Widgets that keep working in the static HTML book, where no Python kernel runs.

Python callbacks never run in a built page, so each view is drawn in advance into an
``ipywidgets.Output`` panel, the panels go into a ``Stack``, and the control is linked to the
stack *in the browser* (``jslink``). The same widget is live in Jupyter. ipywidgets is imported
only when you call these functions.

Example:
    >>> import matplotlib.pyplot as plt
    >>> def draw(k):
    ...     fig, ax = plt.subplots(); ax.plot([0, k]); plt.show()
    >>> box = slider_stack([lambda k=k: draw(k) for k in range(3)], ["a", "b", "c"], "view")  # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from lotterylab.errors import LotteryLabError

__all__ = ["slider_stack"]


def slider_stack(draw_panels: Sequence[Callable[[], None]], labels: Sequence[str], description: str):
    """A slider over ``labels`` that switches between precomputed panels, with no kernel needed.

    ``draw_panels[i]()`` must display panel ``i`` (for example draw a figure and call ``plt.show()``).
    Returns an ``ipywidgets.VBox`` holding the slider above the panels.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    if len(draw_panels) != len(labels) or not labels:
        raise LotteryLabError(f"draw_panels and labels must be non-empty and of equal length; "
                              f"got {len(draw_panels)} and {len(labels)}.")
    outputs = []
    for draw in draw_panels:
        out = widgets.Output()
        with out:
            draw()
        plt.close("all")
        outputs.append(out)
    stack = widgets.Stack(outputs, selected_index=0)
    slider = widgets.SelectionSlider(options=list(labels), index=0, description=description,
                                     continuous_update=True, style={"description_width": "initial"},
                                     layout=widgets.Layout(width="520px"))
    widgets.jslink((slider, "index"), (stack, "selected_index"))
    return widgets.VBox([slider, stack])
