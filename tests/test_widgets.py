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
