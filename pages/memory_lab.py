"""placeholder"""
import streamlit as st

st.title("memory_lab")
st.info("Coming up.")
