"""inspector — the Streamlit entry point: `streamlit run app.py`.

Only navigation lives here; each page is a thin script under pages/ (overview first, the default).
"""

from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).parent / "pages"
# (file, title, url path, icon) — the order of the sidebar.
PAGES = [
    ("0_Overview.py", "Overview", "overview", ":material/troubleshoot:"),
    ("1_Loss_curves.py", "Loss curves", "Loss_curves", ":material/show_chart:"),
    ("2_Episodes.py", "Episodes", "Episodes", ":material/center_focus_strong:"),
    ("3_Compare.py", "Compare", "Compare", ":material/compare:"),
]

st.set_page_config(page_title="inspector", page_icon=":material/troubleshoot:", layout="wide")
navigation = st.navigation([
    st.Page(PAGES_DIR / name, title=title, url_path=url, icon=icon, default=(i == 0))
    for i, (name, title, url, icon) in enumerate(PAGES) if (PAGES_DIR / name).exists()
])
navigation.run()
