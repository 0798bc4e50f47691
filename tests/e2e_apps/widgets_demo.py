"""Tiny app for the theme browser test: each input kind and a button, enabled and
disabled side by side, in the theme of ``?theme=`` (the sidebar's picker)."""

from __future__ import annotations

import streamlit as st

from optlab.ui.frame.look import theme_picker

theme_picker()
for state, disabled in (("on", False), ("off", True)):
    with st.container(key=f"demo-{state}"):
        st.text_input("text", "0.566", key=f"text-{state}", disabled=disabled)
        st.number_input("number", value=0.566, key=f"number-{state}", disabled=disabled)
        st.selectbox("select", ["Adam", "SGD"], key=f"select-{state}", disabled=disabled)
        st.text_area("area", "0.566", key=f"area-{state}", disabled=disabled)
        st.button("Next", key=f"button-{state}", disabled=disabled)
