"""The one error type for bad input, rendered the same way everywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Up to this many problems are listed one per line; more are grouped by kind (a flood of one
# mistake, e.g. every path of a manifest leaving its folder, should read as one line with a count).
LIST_ALL = 25
EXAMPLES = 3
KINDS_SHOWN = 6


@dataclass
class Problem:
    """One input problem: where it is (file, row, column) and what to do about it."""

    file: str
    message: str
    row: int | None = None  # 1-based data row (header excluded), as a spreadsheet user counts
    column: str | None = None
    # The patient a problem of an excludable class is about, and the class (validate.<category>:
    # stop | drop decides whether it stops the run or excludes the patient); None for the rest.
    patient: str | None = field(default=None, compare=False, repr=False)
    category: str | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


class InputError(Exception):
    """Raised for problems with user input; carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem] | Problem, full_list: str | None = None):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        self.full_list = full_list  # a file holding every problem (validate writes one)
        super().__init__(self.render())

    def render(self) -> str:
        n = len(self.problems)
        head = f"{n} input problem{'s' if n != 1 else ''} found:"
        if n <= LIST_ALL:
            return "\n".join([head] + [f"  - {p}" for p in self.problems])
        kinds = self.kinds()
        lines = [head + f" {len(kinds)} kind(s), the first {EXAMPLES} of each shown"]
        for (file, column, kind), group in list(kinds.items())[:KINDS_SHOWN]:
            where = file + (f", column '{column}'" if column else "")
            lines.append(f"  - {len(group)}x {where}: {kind}")
            lines += [f"      e.g. {p}" for p in group[:EXAMPLES]]
        if len(kinds) > KINDS_SHOWN:
            lines.append(f"  - and {len(kinds) - KINDS_SHOWN} more kind(s)")
        if self.full_list:
            lines.append(f"Every problem: {self.full_list}")
        return "\n".join(lines)

    def kinds(self) -> dict[tuple, list[Problem]]:
        """Problems grouped by file, column and message with its paths and numbers blanked."""
        groups: dict[tuple, list[Problem]] = {}
        for p in self.problems:
            groups.setdefault((p.file, p.column, problem_kind(p.message)), []).append(p)
        return groups

    def table(self):
        """Every problem as a table (file, row, column, message), for the full list on disk."""
        import pandas as pd

        return pd.DataFrame([{"file": p.file, "row": p.row, "column": p.column, "message": p.message}
                             for p in self.problems], columns=["file", "row", "column", "message"])



class RoiError(InputError):
    """A mask that gives no usable ROI: the ROI rule's verdict or an annotation file's (segment
    absent, another image's). `verdict` is the sentence after "mask <path>", so that validation can
    report it at the manifest's row."""

    category = "small_roi"  # the problem class validate.small_roi decides on (stop, or drop the patient)

    def __init__(self, path: str, verdict: str):
        self.verdict = verdict
        super().__init__(Problem(str(path), f"mask {verdict}"))


class ForeignAnnotationError(RoiError):
    """An annotation file that cannot be placed on its image (another series or frame of reference,
    outside the image, unreadable): a problem of class `unreadable`, like a mask off its grid."""

    category = "unreadable"


def problem_kind(message: str) -> str:
    """A message's shape: paths, quoted values and numbers replaced by '…'."""
    kind = re.sub(r"\S*[/\\]\S*", "…", message)
    kind = re.sub(r"'[^']*'", "'…'", kind)
    return re.sub(r"\d+(\.\d+)?", "…", kind)
