"""placeholder"""
import streamlit as st

st.title("benchmark")
st.info("Coming up.")
