"""Docs that describe public interfaces must not drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from callscribe.models import Base
from callscribe.settings import configuration_table

DOCS = Path(__file__).resolve().parent.parent / "docs"


#: Tables that are not part of the dashboard interface (named as such in schema.md).
INTERNAL = {"job_cost_hours"}


def test_every_column_is_documented() -> None:
    text = (DOCS / "schema.md").read_text()
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, re.S | re.M))
    for name in INTERNAL:
        assert f"`{name}`" in text and "internal" in text
    for table in Base.metadata.sorted_tables:
        if table.name in INTERNAL:
            continue
        assert table.name in sections, f"table {table.name} missing from docs/schema.md"
        for column in table.columns:
            assert f"`{column.name}`" in sections[table.name], f"{table.name}.{column.name}"


def test_configuration_reference_is_current() -> None:
    text = (DOCS / "configuration.md").read_text()
    assert configuration_table() in text, "regenerate docs/configuration.md's table"
