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
