"""Regenerate the settings table in docs/configuration.md from the settings docstrings."""

from pathlib import Path

from callscribe.settings import configuration_table

path = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
text = path.read_text()
path.write_text(text[: text.index("| setting |")] + configuration_table())
print(f"updated {path}")
