import streamlit as st
st.title("nerloop")
