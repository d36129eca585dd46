"""Agreement: pairwise entity F1 and token kappa between the project's annotators on the sentences they share
(core.agreement), as a table, heatmaps per pair, and per class."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.agreement import project_agreement
from pages import ui

ui.ensure_navigation()


def _matrix(result: dict, measure: str) -> tuple[list[str], list[list[float | None]]]:
    """Annotator names and the symmetric matrix of one measure (1 on the diagonal, None for pairs with nothing
    shared)."""
    names = sorted({p[k] for p in result["pairs"] for k in ("a", "b")})
    at = {n: i for i, n in enumerate(names)}
    grid: list[list[float | None]] = [[1.0 if i == j else None for j in names] for i in names]
    for p in result["pairs"]:
        grid[at[p["a"]]][at[p["b"]]] = grid[at[p["b"]]][at[p["a"]]] = p[measure]
    return names, grid


def render_heatmap(*, result: dict, measure: str, title: str) -> None:
    """One measure per pair of annotators as a heatmap (blank: nothing to compare)."""
    names, grid = _matrix(result, measure)
    text = [["" if v is None else f"{v:.2f}" for v in row] for row in grid]
    fig = go.Figure(go.Heatmap(z=grid, x=names, y=names, text=text, texttemplate="%{text}", zmin=0, zmax=1,
                               colorscale="Blues", hoverongaps=False))
    fig.update_layout(title=title, height=120 + 60 * len(names), margin=dict(l=10, r=10, t=40, b=10),
                      yaxis=dict(autorange="reversed"))
    st.plotly_chart(fig, key=f"agreement_heatmap_{measure}", config=ui.CHART_CONFIG)


def render_pairs(*, result: dict) -> None:
    """Sentences, entity F1 and token kappa per pair."""
    frame = pd.DataFrame([{k: p[k] for k in ("a", "b", "sentences", "f1", "kappa")} for p in result["pairs"]])
    st.dataframe(frame, hide_index=True, key="agreement_pairs", column_config={
        "f1": st.column_config.NumberColumn("entity F1", format="%.3f"),
        "kappa": st.column_config.NumberColumn("token kappa", format="%.3f")})


def render_per_class(*, result: dict) -> None:
    """Entity F1 and support per class and pair."""
    rows = [{"a": p["a"], "b": p["b"], "class": label, "f1": v["f1"], "support": v["support"]}
            for p in result["pairs"] for label, v in p["per_class"].items()]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="agreement_classes",
                     column_config={"f1": st.column_config.NumberColumn("entity F1", format="%.3f")})


def render() -> None:
    proj = ui.require_project()
    st.title("Agreement")
    result = project_agreement(ui.store(), proj.id)
    if not result["pairs"]:
        st.info("No sentence has human labels by two annotators yet: set an overlap on the Home page, or import "
                "another annotator's file with `nerloop import PROJECT FILE --annotator NAME`.")
        return
    overall = result["overall"]
    cols = st.columns(3)
    cols[0].metric("Shared sentences (all pairs)", overall["sentences"], border=True)
    cols[1].metric("Entity F1", "–" if overall["f1"] is None else f"{overall['f1']:.3f}", border=True)
    cols[2].metric("Token kappa", "–" if overall["kappa"] is None else f"{overall['kappa']:.3f}", border=True)
    render_pairs(result=result)
    left, right = st.columns(2)
    with left:
        render_heatmap(result=result, measure="f1", title="Entity F1 per pair")
    with right:
        render_heatmap(result=result, measure="kappa", title="Token kappa per pair")
    st.subheader("Per class")
    render_per_class(result=result)


render()
