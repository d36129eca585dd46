"""nerloop: the Streamlit app. `streamlit run app.py` (or `make run`)."""
from __future__ import annotations

import streamlit as st

from pages import home, ui

st.set_page_config(page_title="nerloop", page_icon=":material/autorenew:", layout="wide")

PAGES = [
    st.Page(home.render, title="Home", icon=":material/home:", default=True, url_path="home"),
    st.Page("pages/upload.py", title="Upload", icon=":material/upload:"),
    st.Page("pages/annotate.py", title="Annotate", icon=":material/edit_note:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/bar_chart:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
]

home.ensure_demo(ui.store())
ui.render_project_picker()
st.navigation(PAGES).run()
