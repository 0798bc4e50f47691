"""The Training page's settings: model problem, data source, epochs, batch size, device."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import streamlit as st

from optlab.problem import (
    DataError,
    DataSource,
    ModelProblem,
    check_data_dir,
    get_problem,
    list_problems,
)
from optlab.ui.forms import downloads
from optlab.ui.forms.problem_form import problem_choice, problem_fields
from optlab.ui.forms.widgets import seed
from optlab.ui.markdown_text import md_text
from optlab.ui.state import draft as drafts

DATA_FIELDS = ("data_dir", "download")


def sources(source: DataSource) -> dict[str, str]:
    """The data choices, in the dataset's words."""
    return {
        "sample": f"Bundled sample ({source.sample_text})",
        "full": f"Full {source.title} (download once, {source.download_size})",
        "folder": "A folder on the server",
    }


def model_names() -> list[str]:
    return [p.name for p in list_problems() if issubclass(p, ModelProblem)]


@lru_cache(maxsize=1)
def device_text() -> str:
    """What ``device: auto`` trains on here: the GPU's name, or the CPU."""
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "GPU: Apple MPS"
    return "CPU (no GPU on this server)"


def _source_of(problem: dict[str, Any], source: DataSource) -> str:
    if problem.get("download"):
        return "full"
    if problem.get("data_dir"):
        given = str(problem["data_dir"])
        if given == str(source.sample_dir()):
            return "sample"
        return "full" if given == str(downloads.target(source)) else "folder"
    return "sample"


@st.fragment(run_every=0.5)
def _download_progress(title: str) -> None:
    s = downloads.state()
    if s.running:
        mb = s.done_bytes / 1e6
        text = f"Downloading {title}… {mb:,.0f} MB" + (
            f" of {s.total_bytes / 1e6:,.0f} MB" if s.total_bytes else ""
        )
        st.progress(min(s.fraction, 1.0), text=text)
    elif s.error:
        st.error(f"The download failed: {s.error}")
    elif s.finished:
        st.success(f"{title} is ready in {s.path}.")


def _start_download(source: DataSource) -> None:
    """The button's callback (Streamlit wants one that returns None)."""
    downloads.start(source)


def data_source(page: str, problem: dict[str, Any], source: DataSource) -> dict[str, Any]:
    """Radio: bundled sample / full download / a folder; returns data_dir/download fields."""
    key = drafts.wkey(page, "data_source")
    seed(key, _source_of(problem, source))
    choices = sources(source)
    choice = st.radio("Data", list(choices), key=key, format_func=choices.get)
    if choice == "sample":
        return {"data_dir": str(source.sample_dir())} if source.env_dir() is not None else {}
    if choice == "full":
        if downloads.present(source):
            st.caption(f"Found in {downloads.target(source)}.")
        else:
            st.button(
                f"Download {source.title} now",
                key=f"{key}:dl",
                on_click=_start_download,
                args=(source,),
                icon=":material/download:",
                disabled=downloads.state().running,
                help="or just Run: the worker downloads it first (without a progress bar here)",
            )
            if downloads.state().running or downloads.state().error or downloads.state().finished:
                _download_progress(source.title)
        return {"data_dir": str(downloads.target(source)), "download": True}
    fkey = f"{key}:folder"
    seed(fkey, str(problem.get("data_dir") or source.env_dir() or ""))
    folder = st.text_input(f"Folder holding {source.folder_content}", key=fkey).strip()
    if not folder:
        return {}
    env = source.env_dir()
    try:  # with OPTLAB_DATA_ROOTS set, a shared server reads only inside those folders
        check_data_dir(folder, download=False, extra=(source.sample_dir(), *([env] if env else [])))
    except DataError as exc:
        st.error(f"problem.data_dir: {md_text(exc)}")
        return {}
    return {"data_dir": folder}


def model_setup(page: str, draft: dict[str, Any]) -> type[ModelProblem]:
    """Widgets for the problem, data and training length; edits ``draft`` in place."""
    name, problem, changed = problem_choice(page, draft, model_names(), "Model")
    if changed:  # the new model's own defaults
        draft.pop("epochs", None)
        draft.pop("batch_size", None)
    cls = get_problem(name)
    assert issubclass(cls, ModelProblem)
    st.caption(cls.description)
    new_problem: dict[str, Any] = {"name": name}
    source = cls.data_source()
    if source is not None:
        new_problem.update(data_source(page, problem, source))
    skip = ("start", *(DATA_FIELDS if source is not None else ()))
    with st.expander(f"{cls.title or name} settings", icon=":material/settings:"):
        new_problem.update(
            problem_fields(cls, problem, drafts.wkey(page, "params", name), skip=skip)
        )
    draft["problem"] = new_problem
    cols = st.columns(3)
    for col, (field, default, step) in zip(
        cols,
        (
            ("epochs", cls.default_epochs, 1),
            ("batch_size", cls.default_batch_size, 16),
            ("seed", 0, 1),
        ),
        strict=True,
    ):
        k = drafts.wkey(page, field, name)
        seed(k, int(draft.get(field) or default))
        label = field.replace("_", " ").capitalize()
        draft[field] = col.number_input(label, key=k, value=None, step=step, format="%d")
    draft.pop("steps", None)
    st.caption(
        f"Trains on: **{device_text()}** · runs are paired (same initial weights and batches)."
    )
    return cls
