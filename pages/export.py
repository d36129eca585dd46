"""export page (placeholder)."""
import streamlit as st

from pages import ui

proj = ui.require_project()
st.title("Export")
