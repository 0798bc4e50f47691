"""Teach: each optimizer's update rule (LaTeX) and one line, and the experiment as PyTorch code."""

from __future__ import annotations

from typing import Any

import streamlit as st

from optlab.catalog import optimizers


def optimizer_teach(name: str) -> None:
    """An expander with the update rule and a one-line explanation of ``name``."""
    try:
        info = optimizers.get_info(name)
    except ValueError:
        return
    with st.expander(f"How {info.name} updates the weights", icon=":material/school:"):
        st.markdown(info.description or "")
        if info.update_rule:
            st.latex(info.update_rule)
        else:
            st.caption("No update rule written down for this optimizer yet; see its paper.")


@st.cache_data(show_spinner=False, max_entries=64)
def script_for(spec_json: str) -> str:
    """The standalone script of a validated spec (cached: export is pure).  Rendering never
    reads a dataset (``read_data=False``): a data folder is the user's, not the server's."""
    from optlab.export.script import export_script
    from optlab.spec import parse_spec

    return export_script(parse_spec(spec_json), read_data=False)


def script_or_reason(spec: Any) -> tuple[str | None, str | None]:
    """(script, None), or (None, why not) when this experiment cannot be exported."""
    try:
        return script_for(spec.to_json()), None
    except NotImplementedError as exc:
        return None, str(exc) or "this experiment cannot be exported as a script yet"
    except Exception as exc:  # export is best effort; the experiment itself still runs
        return None, f"the script export failed: {type(exc).__name__}: {exc}"


def code_section(spec: Any) -> None:
    """The exported PyTorch script in a code block (with its copy button)."""
    with st.expander("The PyTorch code of this experiment", icon=":material/code:"):
        script, reason = script_or_reason(spec)
        if script is None:
            st.info(reason)
            return
        st.caption(
            "A standalone script: plain torch.optim / lr_scheduler, no optlab needed. "
            "It prints each run's final loss."
        )
        st.code(script, language="python", line_numbers=False)
