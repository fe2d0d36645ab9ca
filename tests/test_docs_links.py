"""Every document in docs/ is reachable from the README."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_doc_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in (ROOT / "docs").glob("*.md") if f"docs/{p.name}" not in readme]
    assert missing == []
