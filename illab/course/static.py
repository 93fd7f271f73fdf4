"""Executed notebooks that read well in a static view (the course website, GitHub, nbviewer).

Widgets live in the browser: a saved notebook keeps only each widget's *initial* text fallback (tqdm's
``0%|``), and an ``interact`` cell's plot sits inside widget state that static renderers do not draw.
:func:`static_view` rewrites the outputs of an executed notebook from the widget state that nbclient
stores at the end of the run (``metadata.widgets``):

* a tqdm bar becomes one text line with its **final** state (``collecting acrobot: 100% 48/48 [...]``);
* an ``interact`` box becomes a line naming the widget values, followed by the outputs of its last run;
* an ``image/gif`` (an episode GIF) also gets an ``<img>`` HTML fallback, which HTML exporters render.

The committed notebooks are never touched: this is for executed copies.
"""

from __future__ import annotations

import base64
import copy
import html
import re
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _text(value: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", str(value))).replace("\u2007", " ").strip()


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text + "\n"}


def _expand(output: dict, state: dict, depth: int = 0) -> list[dict]:
    """The static replacement of one output (a list: an interact box expands to several)."""
    data = output.get("data", {})
    if "image/gif" in data and "text/html" not in data:
        out = copy.deepcopy(output)
        gif = data["image/gif"]
        gif = gif if isinstance(gif, str) else base64.b64encode(gif).decode()
        out["data"]["text/html"] = f'<img src="data:image/gif;base64,{gif.strip()}" alt="episode GIF"/>'
        return [out]
    view = data.get(WIDGET_VIEW)
    if not view or depth > 5 or view.get("model_id") not in state:
        return [output]
    model = state[view["model_id"]]
    kids = [state.get(str(c).replace("IPY_MODEL_", ""), {}) for c in model.get("state", {}).get("children", [])]
    names = [k.get("model_name") for k in kids]
    if model.get("model_name") == "HBoxModel" and names == ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        left, bar, right = (k.get("state", {}) for k in kids)
        line = f"{_text(left.get('value', ''))} {_text(right.get('value', ''))}".strip()
        return [_stream(line)]
    if "widget-interact" in model.get("state", {}).get("_dom_classes", []):
        controls = [f"{k['state'].get('description', '')} = {k['state'].get('value')!r}" for k in kids
                    if k.get("model_name") != "OutputModel" and "value" in k.get("state", {})]
        result = [_stream("(interactive: " + ", ".join(controls) + ")")] if controls else []
        for k in kids:
            if k.get("model_name") == "OutputModel":
                for inner in k.get("state", {}).get("outputs", []):
                    result += _expand(inner, state, depth + 1)
        return result
    return [output]


def static_view(nb: Any) -> Any:
    """Rewrite widget outputs of an executed notebook ``nb`` (an ``nbformat`` node) in place; returns ``nb``.

    A notebook without stored widget state is returned unchanged (apart from the GIF fallback).
    """
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    import nbformat

    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        new = []
        for output in cell.get("outputs", []):
            new += _expand(output, state)
        cell["outputs"] = [nbformat.from_dict(o) for o in new]
    left = any(WIDGET_VIEW in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    if not left:   # everything is static now: the stored state would only draw the widgets a second time
        nb.get("metadata", {}).pop("widgets", None)
    return nb
