"""The one error type for bad input, rendered the same way everywhere."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Problem:
    """One input problem: where it is (file, row, column) and what to do about it."""

    file: str
    message: str
    row: int | None = None  # 1-based data row (header excluded), as a spreadsheet user counts
    column: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


class InputError(Exception):
    """Raised for problems with user input; carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem] | Problem):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        n = len(self.problems)
        head = f"{n} input problem{'s' if n != 1 else ''} found:"
        return "\n".join([head] + [f"  - {p}" for p in self.problems])
