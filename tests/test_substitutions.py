"""The substitution table (book/substitutions.md) follows the configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from paperlib import config, names, substitutions

ROOT = Path(__file__).resolve().parents[1]


def test_page_table_is_current():
    r = subprocess.run([sys.executable, "scripts/substitutions_table.py", "--check"], cwd=ROOT)
    assert r.returncode == 0, "book/substitutions.md is stale: run python scripts/substitutions_table.py"


def test_cells_come_from_the_profiles():
    df = substitutions.substitution_rows()
    assert list(df.columns) == ["what", "paper", "smoke", "quick", "cifar", "paper profile"]
    row = df.set_index("what").loc["image size"]
    for n in names.PROFILES:
        assert row[f"{n} profile" if n == "paper" else n] == f"{config.get_profile(n).image_size} px"
    assert not df["what"].duplicated().any()


def test_page_in_toc():
    toc = (ROOT / "book" / "_toc.yml").read_text().splitlines()
    assert toc.index("  - file: substitutions") == toc.index("  - file: claims") + 1
