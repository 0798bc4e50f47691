"""optlab dashboard: ``streamlit run app.py``.  Page config, navigation, the theme box and
the workers box."""

import streamlit as st

from optlab.ui.frame.look import theme_picker
from optlab.ui.frame.workers import workers_status
from optlab.ui.menu import pages

st.set_page_config(page_title="optlab — optimizer lab", page_icon="📉", layout="wide")
navigation = st.navigation(pages(), position="sidebar")
theme_picker()
workers_status()
navigation.run()
