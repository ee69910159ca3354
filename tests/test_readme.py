"""README's fresh-machine commands and .ci/run stay in step."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line for line in first_block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2
    assert "streamlit run app.py" in commands[0]
    test_command = commands[1].split("&&")[-1].strip()
    assert "pytest" in test_command
    assert test_command in (REPO / ".ci" / "run").read_text()
    assert "scripts/setup.sh --dev" in (REPO / ".ci" / "run").read_text()


def _named_paths(text: str) -> set[str]:
    """Backticked repository paths in a Markdown text: `inspector/...`, `pages/...`, `app.py`, `bench/...`."""
    return {
        m
        for m in re.findall(r"`([A-Za-z0-9_./-]+)`", text)
        if m.endswith((".py", "/"))
        and m.split("/")[0] in {"inspector", "pages", "app.py", "bench", "demo", "tests"}
    }


def test_every_module_the_docs_name_exists():
    for doc in ("README.md", "docs/DESIGN.md"):
        text = (REPO / doc).read_text(encoding="utf-8")
        named = _named_paths(text)
        assert named, f"{doc} names no module"
        missing = sorted(p for p in named if not (REPO / p).exists())
        assert not missing, f"{doc} names paths that do not exist: {missing}"


def test_the_readme_architecture_points_to_the_design_document():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    architecture = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    assert "docs/DESIGN.md" in architecture
