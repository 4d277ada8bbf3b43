"""Code only the Streamlit dashboard uses, kept apart from the library and free of Streamlit itself.

charts (plotly figures of measurements), load_charts (the Serving Lab's figures), kept (the Remove
page's kept result, recomposed without the model), runs (Memory Lab's runs and fair comparisons),
glossary (help text the pages show), serving (the Serving Lab's server and load runs). Needs the
`app` extra (plotly); nothing outside this package and pages/ imports it.
"""
