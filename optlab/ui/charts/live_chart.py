"""A live Plotly chart that updates in place: ``live_chart(figure, key=...)``.

Why not ``st.plotly_chart``: in Streamlit 1.67 it remounts the chart on every update
of a polling fragment (visible flicker, the user's zoom is lost). This element is a
keyed components-v2 element whose JavaScript (``live_chart.js``) keeps one Plotly
div per key and calls ``Plotly.react`` with each new figure, so the DOM node stays
and ``layout.uirevision`` (defaulting to the key) keeps zoom and pan.

How the bytes travel (measure before changing; an update must stay well under
~300 kB):

- plotly.js (~4.8 MB) comes from the installed ``plotly`` package, never a CDN.
  It is served by Streamlit's own component file route: ``declare_component`` of
  components v1 with ``path=plotly/package_data`` exposes that folder at
  ``<baseUrlPath>/component/optlab.ui.charts.live_chart.plotlyjs/plotly.min.js`` (gzip,
  ``Cache-Control: public``). The JS injects one ``<script>`` per page, guarded by
  ``window.Plotly``, so each browser page downloads it once; updates carry only
  its URL. (Components v2 ``asset_dir`` needs an installed package with a
  manifest, and ``server.enableStaticServing`` needs a ``static/`` folder next to
  the app; inlining it in the component's ``js`` would resend it on every update,
  because the v2 element proto carries its JS text each time.)
- The component's own JS (a few kB) travels inline with each update.
- Static traces (``static_traces``, e.g. a contour) and ``layout.template`` are
  cached in the page by content hash; updates name only the hash once the page
  holds it. The JS reports the hash it holds as the element's ``static_hash``
  state, and Python sends the content until that matches. (Tracking "sent" on the
  Python side is not enough: the frontend coalesces fast updates of one element,
  so a sent message may never reach the JS; a reload or a lost cache resets it.)
- Numeric ``x``/``y``/``z`` arrays travel as base64 typed arrays (plotly.js's
  ``{"dtype", "bdata"}`` form): float32 for the changing traces when the values fit
  (float64 otherwise, e.g. losses below 1e-38), float64 for static traces. Use
  ``decimate`` to bound points per trace: 6 traces x 2,000 points is ~130 kB.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import plotly
import streamlit as st
import streamlit.components.v1 as components_v1
from streamlit import config as st_config

from optlab.ui import themes

_COMPONENT_NAME = "optlab.live_chart"
_HERE = Path(__file__).parent
# player.js (pace control), instruments.js (arrows and step inspector at the shown
# step) and cursor.js (step cursors) define functions that live_chart.js's default
# export uses.
_JS = "\n".join(
    (_HERE / name).read_text(encoding="utf-8")
    for name in ("player.js", "instruments.js", "cursor.js", "live_chart.js")
)
_PLOTLY_DIR = Path(plotly.__file__).parent / "package_data"
_PLOTLY_FILE = "plotly.min.js"
_ARRAY_KEYS = ("x", "y", "z")
_PLAYER_ARRAYS = ("step", "x", "y", "loss", "lr")
_F4_MAX = float(np.finfo(np.float32).max)
_F4_TINY = float(np.finfo(np.float32).tiny)
_DEFAULT_CONFIG = {"responsive": True, "displaylogo": False}

# isolate_styles=False: plotly.js puts its CSS (modebar, hover) in document.head,
# which a shadow root would not see.
_component = st.components.v2.component(_COMPONENT_NAME, js=_JS, isolate_styles=False)


def decimate(xs: Any, ys: Any, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Thin a trajectory to at most ``max_points``, keeping the first and last points.

    The stride is a power of two, so the kept points stay the same from one live
    update to the next (no shimmer) until the stride doubles.
    """
    if max_points < 2:
        raise ValueError("max_points must be at least 2")
    x = np.asarray(xs)
    y = np.asarray(ys)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"xs and ys differ in length: {x.shape[0]} != {y.shape[0]}")
    n = x.shape[0]
    if n <= max_points:
        return x, y
    stride = 1
    while -(-(n - 1) // stride) + 1 > max_points:
        stride *= 2
    idx = np.arange(0, n - 1, stride)
    idx = np.append(idx, n - 1)
    return x[idx], y[idx]


def _plotly_url() -> str:
    """Register plotly's package_data folder with the component file route; return the URL."""
    served = components_v1.declare_component("plotlyjs", path=str(_PLOTLY_DIR))
    base = str(st_config.get_option("server.baseUrlPath") or "").strip("/")
    prefix = f"/{base}" if base else ""
    return f"{prefix}/component/{served.name}/{_PLOTLY_FILE}"


def _typed_array(value: Any, *, compact: bool) -> Any:
    """Encode a numeric array as plotly.js's base64 typed-array spec; leave others as is."""
    if isinstance(value, dict) and "bdata" in value and "dtype" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            arr = arr.reshape([int(s) for s in str(value["shape"]).split(",")])
    elif isinstance(value, (list, tuple, np.ndarray)):
        try:
            arr = np.asarray(value)
        except ValueError:  # ragged
            return value
    else:
        return value
    if arr.dtype.kind not in "biuf" or arr.ndim not in (1, 2) or arr.size == 0:
        return _jsonable(value)
    dtype = "f8"
    if compact:
        finite = np.abs(arr[np.isfinite(arr)]).astype(np.float64)
        nonzero = finite[finite > 0]
        if finite.size == 0 or (
            finite.max() <= _F4_MAX and (nonzero.size == 0 or nonzero.min() >= _F4_TINY)
        ):
            dtype = "f4"
    spec: dict[str, Any] = {
        "dtype": dtype,
        "bdata": base64.b64encode(np.ascontiguousarray(arr, dtype=dtype).tobytes()).decode(),
    }
    if arr.ndim == 2:
        spec["shape"] = f"{arr.shape[0]}, {arr.shape[1]}"
    return spec


def _jsonable(value: Any) -> Any:
    """Turn numpy scalars and arrays inside a figure part into plain JSON types."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _encode_trace(trace: dict[str, Any], *, compact: bool) -> dict[str, Any]:
    out = {k: (v if k in _ARRAY_KEYS else _jsonable(v)) for k, v in trace.items()}
    for k in _ARRAY_KEYS:
        if k in out:
            out[k] = _typed_array(out[k], compact=compact)
    return out


def _figure_dict(figure: Any) -> dict[str, Any]:
    if isinstance(figure, dict):
        return figure
    if hasattr(figure, "to_dict"):
        return figure.to_dict()
    raise TypeError(f"figure must be a dict or a plotly Figure, not {type(figure).__name__}")


def _ignore() -> None:
    """Callbacks exist only to declare the element's events (click, static_hash)."""


def build_payload(
    figure: dict[str, Any] | Any,
    *,
    key: str,
    height: int = 450,
    static_traces: list[int] | None = None,
    on_click: bool = False,
    page_hash: str | None = None,
    player: dict[str, Any] | None = None,
    cursor: str | None = None,
    cursor_scale: float | None = None,
) -> tuple[dict[str, Any], str]:
    """The JSON the JS receives, and the hash of its static parts.

    Static content is included unless ``page_hash`` says the page already holds it.
    Pure (no Streamlit calls), so it can be measured and tested without a server.
    """
    fig = _figure_dict(figure)
    traces = list(fig.get("data") or [])
    layout = dict(fig.get("layout") or {})
    static_index = sorted(set(static_traces or []))
    for i in static_index:
        if not 0 <= i < len(traces):
            raise ValueError(f"static_traces index {i} is out of range for {len(traces)} traces")
    layout.setdefault("uirevision", key)
    static_content = {
        "traces": [_encode_trace(dict(traces[i]), compact=False) for i in static_index],
        "template": _jsonable(layout.pop("template", None)),
    }
    blob = json.dumps(static_content, sort_keys=True, separators=(",", ":"))
    digest = hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()
    static: dict[str, Any] = {"hash": digest}
    if digest != page_hash:
        static["content"] = static_content
    dynamic = [
        _encode_trace(dict(t), compact=True) for i, t in enumerate(traces) if i not in static_index
    ]
    config = {**_DEFAULT_CONFIG, **_jsonable(fig.get("config") or {})}
    payload = {
        "traces": dynamic,
        "static_index": static_index,
        "static": static,
        "layout": _jsonable(layout),
        "config": config,
        "height": int(height),
        "click": bool(on_click),
        "plotly_url": "",
        "player": _encode_player(player),
        "cursor": cursor,
        # the cursor's x is step / cursor_scale (a per-epoch chart: steps per epoch)
        "cursor_scale": float(cursor_scale) if cursor_scale else 1.0,
    }
    return payload, digest


def _encode_player(player: dict[str, Any] | None) -> dict[str, Any] | None:
    """The player's per-run arrays as compact typed arrays (see ``player.py``)."""
    if player is None:
        return None
    runs = []
    for run in player["runs"]:
        out = {k: _nested(v) for k, v in run.items() if k not in _PLAYER_ARRAYS}
        for k in _PLAYER_ARRAYS:
            arr = np.asarray(run[k], dtype=np.float64)
            out[k] = _typed_array(arr, compact=k != "step") if arr.size else []
        runs.append(out)
    return {**_jsonable({k: v for k, v in player.items() if k != "runs"}), "runs": runs}


def _nested(value: Any) -> Any:
    """JSON for a player run's other parts (arrows, the step inspector): numpy arrays
    inside become float64 typed arrays (NaN has no JSON form), the rest plain JSON."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.ndim == 1:
        return _typed_array(value.astype(np.float64), compact=False) if value.size else []
    if isinstance(value, dict):
        return {k: _nested(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nested(v) for v in value]
    return _jsonable(value)


def live_chart(
    figure: dict[str, Any] | Any,
    *,
    key: str,
    height: int = 450,
    static_traces: list[int] | None = None,
    on_click: bool = False,
    player: dict[str, Any] | None = None,
    cursor: str | None = None,
    cursor_scale: float | None = None,
) -> dict[str, float] | None:
    """Show ``figure`` in a chart that updates in place; return a click's data point.

    ``static_traces`` lists trace indices sent once and cached in the page (a contour). With
    ``on_click=True`` a click on the plot area returns ``{"x": ..., "y": ...}`` in
    data coordinates, on the one run that the click triggers; otherwise ``None``.
    ``player`` (from :func:`optlab.ui.charts.player.build_player`) adds pace control;
    ``cursor`` names a player group whose shown step this chart marks with a line, at
    ``step / cursor_scale`` on its x axis (``cursor_scale``: steps per epoch on an epoch axis).
    """
    if "__" in key:  # components v2 split element ids on "__"
        raise ValueError(f"live_chart key {key!r} must not contain '__'")
    look = st.session_state.get(themes.STATE_KEY)
    figure = themes.apply(_figure_dict(figure), look)
    if player is not None and look not in (None, "light"):
        player = {
            **player,
            "runs": [
                {**r, "color": themes.map_color(themes.get(look), r["color"])}
                for r in player["runs"]
            ],
        }
    previous = st.session_state.get(key)  # the element's state from the last run
    page_hash = previous.get("static_hash") if isinstance(previous, dict) else None
    payload, _ = build_payload(
        figure,
        key=key,
        height=height,
        static_traces=static_traces,
        on_click=on_click,
        page_hash=page_hash,
        player=player,
        cursor=cursor,
        cursor_scale=cursor_scale,
    )
    payload["plotly_url"] = _plotly_url()
    result = _component(
        key=key,
        data=payload,
        height="content" if player is not None else height,
        on_click_change=_ignore,
        on_static_hash_change=_ignore,
    )
    click = result.get("click") if result is not None else None
    if on_click and isinstance(click, dict) and {"x", "y"} <= click.keys():
        return {"x": click["x"], "y": click["y"]}
    return None
