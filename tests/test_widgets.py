"""Static-HTML widgets: every control is linked in the browser to the stacks it drives."""
import json

import ipywidgets as widgets
import pytest
from ipywidgets.embed import embed_data

from lotterylab.errors import LotteryLabError
from lotterylab.widgets import Control, linked_stacks, slider_stack


def _links(box):
    """(source model id, source attr, target model id, target attr) of every jslink in ``box``'s state."""
    state = embed_data(views=[box])["manager_state"]["state"]
    out = []
    for model in state.values():
        if model["model_name"] == "LinkModel":
            (src, s_attr), (dst, d_attr) = model["state"]["source"], model["state"]["target"]
            out.append((src.removeprefix("IPY_MODEL_"), s_attr, dst.removeprefix("IPY_MODEL_"), d_attr))
    return out


def test_linked_stacks_nests_panels_and_links_every_stack():
    calls = []
    box = linked_stacks(lambda *ix: calls.append(ix),
                        [Control("width", ["1", "2", "4"]), Control("activation", ["silu", "relu"], "dropdown")])
    assert calls == [(i, j) for i in range(3) for j in range(2)]          # row-major, each panel once
    controls, outer = box.children
    slider, dropdown = controls.children
    assert isinstance(slider, widgets.SelectionSlider) and isinstance(dropdown, widgets.Dropdown)
    assert isinstance(outer, widgets.Stack) and len(outer.children) == 3
    inner = outer.children
    assert all(isinstance(s, widgets.Stack) and len(s.children) == 2 for s in inner)
    assert all(isinstance(o, widgets.Output) for s in inner for o in s.children)
    links = _links(box)
    assert (slider.model_id, "index", outer.model_id, "selected_index") in links
    for s in inner:
        assert (dropdown.model_id, "index", s.model_id, "selected_index") in links
    assert json.dumps(embed_data(views=[box]))  # serialisable for the static page


def test_one_control_is_like_slider_stack():
    box = linked_stacks(lambda i: None, [Control("k", ["a", "b"])])
    (slider,), stack = box.children[0].children, box.children[1]
    assert slider.options == ("a", "b") and len(stack.children) == 2
    assert (slider.model_id, "index", stack.model_id, "selected_index") in _links(box)


def test_slider_stack_keeps_its_signature():
    box = slider_stack([lambda: None, lambda: None], ["x", "y"], "view")
    slider, stack = box.children
    assert slider.description == "view" and len(stack.children) == 2
    assert (slider.model_id, "index", stack.model_id, "selected_index") in _links(box)


@pytest.mark.parametrize("controls, match", [
    ([], "controls"),
    (["width"], "Control"),
])
def test_linked_stacks_bad_input(controls, match):
    with pytest.raises(LotteryLabError, match=match):
        linked_stacks(lambda *ix: None, controls)


def test_control_bad_input():
    with pytest.raises(LotteryLabError, match="kind"):
        Control("x", ["a"], "knob")
    with pytest.raises(LotteryLabError, match="label"):
        Control("x", [])


def _shown(box):
    return [i for i, child in enumerate(box.children) if child.layout.display != "none"]


def test_without_stack_widgets_fall_back_to_one_visible_panel_switched_in_python(monkeypatch):
    """ipywidgets 7 (older Colab images) has no Stack: every panel is still drawn, one is shown, and moving
    the control switches it (with a live kernel)."""
    monkeypatch.delattr(widgets, "Stack")
    drawn = []
    box = slider_stack([lambda k=k: drawn.append(k) for k in range(3)], ["a", "b", "c"], "view")
    slider, panels = box.children
    assert drawn == [0, 1, 2] and not [link for link in _links(box) if link[0] == slider.model_id]
    assert isinstance(panels, widgets.VBox) and _shown(panels) == [0]
    slider.index = 2
    assert _shown(panels) == [2]

    nested = linked_stacks(lambda i, j: None, [Control("w", ["1", "2"]), Control("act", ["x", "y", "z"], "dropdown")])
    (outer_control, inner_control), outer = nested.children[0].children, nested.children[1]
    assert _shown(outer) == [0] and all(_shown(inner) == [0] for inner in outer.children)
    outer_control.index, inner_control.index = 1, 2
    assert _shown(outer) == [1] and all(_shown(inner) == [2] for inner in outer.children)
