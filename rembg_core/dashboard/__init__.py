"""Dashboard-only library code: no Streamlit here; the pages in pages/ draw what these modules make."""
