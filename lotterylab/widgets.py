"""Widgets that keep working in the static HTML book, where no Python kernel runs.

Python callbacks never run in a built page, so each view is drawn in advance into an
``ipywidgets.Output`` panel, the panels go into a ``Stack``, and the control is linked to the
stack *in the browser* (``jslink``). The same widget is live in Jupyter. ipywidgets is imported
only when you call these functions. ipywidgets 7 (older Colab images) has no ``Stack``: there the
panels sit in a box that shows one at a time, switched by a Python callback, so the widget works
with a live kernel and every figure is still drawn.

Example:
    >>> import matplotlib.pyplot as plt
    >>> def draw(k):
    ...     fig, ax = plt.subplots(); ax.plot([0, k]); plt.show()
    >>> box = slider_stack([lambda k=k: draw(k) for k in range(3)], ["a", "b", "c"], "view")  # doctest: +SKIP

Several controls (a width slider and an activation dropdown, say) drive nested stacks: the first
control selects among stacks, the second within each of them, and so on; every control is linked in
the browser to all the stacks at its depth:

    >>> box = linked_stacks(lambda i, j: print(i, j),
    ...                     [Control("width", ["1", "2"]), Control("act", ["silu", "relu"], "dropdown")])  # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lotterylab.errors import LotteryLabError, check_choice

__all__ = ["Control", "linked_stacks", "slider_stack"]


def _stack(widgets, children):
    """A ``Stack`` showing child 0, or on ipywidgets 7 (no ``Stack``) a box showing only child 0."""
    if hasattr(widgets, "Stack"):
        return widgets.Stack(children, selected_index=0)
    box = widgets.VBox(children)
    _show(box, 0)
    return box


def _show(box, index: int) -> None:
    for i, child in enumerate(box.children):
        child.layout.display = None if i == index else "none"


def _link(widgets, control, stack) -> None:
    """Link ``control.index`` to ``stack``: in the browser (``jslink``), or on ipywidgets 7 in Python."""
    if hasattr(widgets, "Stack"):
        widgets.jslink((control, "index"), (stack, "selected_index"))
    else:
        control.observe(lambda change: _show(stack, change["new"]), names="index")


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
    stack = _stack(widgets, outputs)
    slider = widgets.SelectionSlider(options=list(labels), index=0, description=description,
                                     continuous_update=True, style={"description_width": "initial"},
                                     layout=widgets.Layout(width="520px"))
    _link(widgets, slider, stack)
    return widgets.VBox([slider, stack])


@dataclass(frozen=True)
class Control:
    """One control of :func:`linked_stacks`: a ``"slider"`` or a ``"dropdown"`` over ``labels``."""

    description: str
    labels: Sequence[str]
    kind: str = "slider"

    def __post_init__(self):
        check_choice("kind", self.kind, ("slider", "dropdown"))
        if not list(self.labels):
            raise LotteryLabError(f"control {self.description!r} needs at least one label; got none.")

    def widget(self):
        import ipywidgets as widgets

        common = {"options": list(self.labels), "index": 0, "description": self.description,
                  "style": {"description_width": "initial"}}
        if self.kind == "dropdown":
            return widgets.Dropdown(**common, layout=widgets.Layout(width="240px"))
        return widgets.SelectionSlider(**common, continuous_update=True, layout=widgets.Layout(width="420px"))


def linked_stacks(draw_panel: Callable[..., None], controls: Sequence[Control]):
    """Controls that select among precomputed panels, linked in the browser (no kernel needed).

    ``draw_panel(i0, i1, ...)`` must display the panel for option ``i0`` of the first control, ``i1``
    of the second, ... It is called once per combination, in row-major order. The panels sit in
    nested ``Stack`` widgets; control ``k``'s ``index`` is ``jslink``-ed to the ``selected_index`` of
    every stack at depth ``k``. Returns an ``ipywidgets.VBox``: the controls in a row, then the panels.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    controls = list(controls)
    if not controls:
        raise LotteryLabError("controls must hold at least one Control; got none.")
    for c in controls:
        if not isinstance(c, Control):
            raise LotteryLabError(f"controls must be Control objects; got {type(c).__name__}.")
    handles = [c.widget() for c in controls]

    def build(prefix: tuple[int, ...]):
        depth = len(prefix)
        if depth == len(controls):
            out = widgets.Output()
            with out:
                draw_panel(*prefix)
            plt.close("all")
            return out
        stack = _stack(widgets, [build(prefix + (i,)) for i in range(len(controls[depth].labels))])
        _link(widgets, handles[depth], stack)
        return stack

    panels = build(())
    return widgets.VBox([widgets.HBox(handles), panels])
