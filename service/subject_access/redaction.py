"""The redaction sheet: every item of third-party information in an export, for a person to
review before the export is released.

Two actions. ``withheld``: the item was left out of the child's files (another child's entry on a
shared visit, another child's evidence), listed so the reviewer knows what was taken out and
where. ``review``: the item is in the files (people present, staff names, free text that may
name other people, files of the whole visit that may show them) and a person decides.
"""

from __future__ import annotations

import csv
import io
from dataclasses import astuple, dataclass, fields

WITHHELD = "withheld"
REVIEW = "review"

OTHER_CHILD = "other_child"
PERSON_PRESENT = "person_present"
STAFF_NAME = "staff_name"
FREE_TEXT = "free_text"
EVIDENCE = "evidence"

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Occurrence:
    """One place in the export that holds (or held) information about someone else."""

    file: str
    field: str
    category: str
    action: str
    detail: str
    also_in: str = ""


class RedactionSheet:
    """The occurrences, in the order the export's files were written."""

    def __init__(self) -> None:
        self.occurrences: list[Occurrence] = []

    def withheld(self, file: str, field: str, category: str, detail: str) -> None:
        """Something left out of ``file`` at ``field``."""
        self.occurrences.append(Occurrence(file, field, category, WITHHELD, detail))

    def review(
        self, file: str, field: str, category: str, detail: str, also_in: str = "record.html"
    ) -> None:
        """Something in ``file`` at ``field`` (and, usually, in record.html) to decide on."""
        self.occurrences.append(Occurrence(file, field, category, REVIEW, detail, also_in))

    def as_csv(self) -> bytes:
        """The sheet as UTF-8 CSV (with a byte order mark, so spreadsheets read it as UTF-8)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([item.name for item in fields(Occurrence)])
        for occurrence in self.occurrences:
            writer.writerow([safe_cell(value) for value in astuple(occurrence)])
        return ("\ufeff" + out.getvalue()).encode()


def safe_cell(value: str) -> str:
    """``value`` made inert for spreadsheets: a leading formula character gets a quote before it."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value
