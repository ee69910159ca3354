"""Streamlit widgets and cached loaders shared by the pages (the pages only compose these)."""
