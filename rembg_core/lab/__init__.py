"""Memory Lab as a library: runs and their fair comparisons (runs), the words it explains (glossary)."""
