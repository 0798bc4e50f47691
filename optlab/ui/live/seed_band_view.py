"""A sweep over seeds, shown as seed bands while it runs (the Lessons page's sweep scenes).

The Sweeps page's figures (``charts/sweep_figures.seed_bands``): per optimizer, each
epoch's median over the seeds and the min–max band, for the training and the
validation loss side by side (fits faster vs generalizes better).  Drawn with
``live_chart`` so the chosen theme applies; polls while the sweep runs.
"""

from __future__ import annotations

import streamlit as st

from optlab.engine.records import ACTIVE_STATUSES
from optlab.ui.charts import sweep_figures as sf
from optlab.ui.charts.live_chart import live_chart
from optlab.ui.markdown_text import md_text
from optlab.ui.services import experiment_or_none, store

POLL_SECONDS = 0.5


def _panel(exp_id: str, key: str) -> str | None:
    exp = experiment_or_none(exp_id)
    if exp is None:
        st.info(f"No sweep {md_text(repr(exp_id))} on this server.")
        return None
    result = store().sweep_result(exp_id)
    done, total = result["progress"]["done"], result["progress"]["total"]
    st.progress(
        min(1.0, done / max(1, total)),
        text=f"{done} / {total} trials · sweep `{exp_id}`: **{exp['status']}**",
    )
    if any(t.get("epochs") for t in result["trials"]):
        left, right = st.columns(2)
        for col, name, title in (
            (left, "train_loss", "training"),
            (right, "val_loss", "validation"),
        ):
            fig = sf.seed_bands(result, name).to_dict()
            fig["layout"]["yaxis"]["title"]["text"] = f"{title} loss"
            with col:
                live_chart(fig, key=f"{key}:{name}", height=360)
        st.caption("Line: the median over the seeds; shade: from the lowest to the highest seed.")
    else:
        st.caption("The first trials are training; the bands appear after their first epoch.")
    return str(exp["status"])


def seed_band_view(exp_id: str, *, key: str) -> None:
    """Progress and seed bands of the sweep ``exp_id``, polling until it is done."""
    exp = experiment_or_none(exp_id)
    active = exp is not None and exp["status"] in ACTIVE_STATUSES

    @st.fragment(run_every=POLL_SECONDS if active else None)
    def poll() -> None:
        status = _panel(exp_id, key)
        if active and status not in ACTIVE_STATUSES:
            st.rerun(scope="app")  # done: redraw once without the timer

    poll()
