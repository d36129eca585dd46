"""Home: create or pick a project, and the project dashboard."""
from __future__ import annotations

import streamlit as st

from core.store import Store
from pages import ui


def ensure_demo(store: Store) -> None:
    """First run: create the demo project from assets/ (placeholder)."""


def render() -> None:
    st.title("nerloop")
    proj = ui.project()
    st.write(proj["name"] if proj else "No project yet.")
