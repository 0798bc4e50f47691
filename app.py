"""optlab dashboard: ``streamlit run app.py``.  Page config and navigation only."""

import streamlit as st

from optlab.ui.menu import pages

st.set_page_config(page_title="optlab — optimizer lab", page_icon="📉", layout="wide")
st.navigation(pages(), position="sidebar").run()
