"""The gallery's grouping, as plain data (no Qt): each result belongs to one group, the same folder
`Organize` would put it in: its label, or UNCERTAIN when it scores under the threshold, or FAILED.

    groups = Groups(min_score=0.3)
    groups.add(rows)                  # as results arrive: returns their indices
    groups.counts()                   # [(label, n), ...] largest first, then UNCERTAIN and FAILED
    groups.members("tabby")           # indices of that group's rows, file names in natural order
    groups.members(ALL)               # every row, grouped: largest group first

Rows are kept by reference in arrival order; indices into that order are what the Qt models hold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from desktop.rows import TableRow
from shared import organize, results_csv

ALL = ""  # the filter that shows every result
UNCERTAIN = organize.UNCERTAIN  # group keys of our own; a label that spells one is told apart below
FAILED = organize.FAILED
_SPECIAL = (UNCERTAIN, FAILED)


def group_of(row: TableRow, min_score: float) -> str:
    """The row's group: FAILED without a label, UNCERTAIN under ``min_score``, else its label."""
    if row.error or not row.label:
        return FAILED
    if row.score is not None and row.score < min_score:
        return UNCERTAIN
    return row.label + " " if row.label in _SPECIAL else row.label  # a label never takes our groups' place


def label_of_group(key: str) -> str:
    """What the group is called on screen (its label; the special groups by what they hold)."""
    return key.rstrip(" ") if key.rstrip(" ") in _SPECIAL and key not in _SPECIAL else key


class Groups:
    def __init__(self, min_score: float = 0.0):
        self.min_score = min_score
        self.rows: list[TableRow] = []
        self._groups: list[str] = []  # per row
        self._keys: list[tuple] = []  # per row: the natural sort key of its name, made once
        self._counts: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, rows: Iterable[TableRow]) -> range:
        first = len(self.rows)
        for row in rows:
            group = group_of(row, self.min_score)
            self.rows.append(row)
            self._groups.append(group)
            self._keys.append(results_csv.natural_key(row.name))
            self._counts[group] += 1
        return range(first, len(self.rows))

    def reset(self, rows: Iterable[TableRow] = ()) -> None:
        self.rows, self._groups, self._keys, self._counts = [], [], [], Counter()
        self.add(rows)

    def replace(self, index: int, row: TableRow) -> None:
        """The same result with new details (a file moved): its group is recomputed."""
        old = self._groups[index]
        new = group_of(row, self.min_score)
        self.rows[index] = row
        if new != old:
            self._counts[old] -= 1
            self._counts[new] += 1
            self._groups[index] = new

    def set_min_score(self, min_score: float) -> None:
        self.min_score = min_score
        self._groups = [group_of(row, min_score) for row in self.rows]
        self._counts = Counter(self._groups)

    def group(self, index: int) -> str:
        return self._groups[index]

    def matches(self, index: int, key: str) -> bool:
        return key == ALL or self._groups[index] == key

    def counts(self) -> list[tuple[str, int]]:
        """(group, rows) with at least one row: labels largest first (then by name), UNCERTAIN, FAILED."""
        labels = sorted(((g, n) for g, n in self._counts.items() if n > 0 and g not in _SPECIAL),
                        key=lambda kv: (-kv[1], kv[0].lower()))
        return labels + [(g, self._counts[g]) for g in _SPECIAL if self._counts[g] > 0]

    def members(self, key: str) -> list[int]:
        """Indices of the rows in group ``key`` (every row for ALL), ordered for the grid."""
        if key != ALL:
            chosen = [i for i, g in enumerate(self._groups) if g == key]
            return sorted(chosen, key=self._keys.__getitem__)
        rank = {group: position for position, (group, _n) in enumerate(self.counts())}
        return sorted(range(len(self.rows)), key=lambda i: (rank[self._groups[i]], self._keys[i]))
