"""placeholder"""

import streamlit as st


def render() -> None:
    st.write("training")
