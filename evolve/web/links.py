"""Where a page links to: server routes, or anchors inside the static report."""

from __future__ import annotations

from collections.abc import Collection


class ServerLinks:
    """Links between the pages of `evolve-archive serve`."""

    def home(self) -> str:
        return "/"

    def run(self, key: int) -> str:
        return f"/run/{int(key)}"

    def tree(self, key: int) -> str:
        return f"/run/{int(key)}/tree"

    def failures(self, key: int) -> str:
        return f"/run/{int(key)}/failures"

    def program(self, key: int, pid: int) -> str:
        return f"/run/{int(key)}/program/{int(pid)}"


class ReportLinks:
    """Links inside one report file: sections, and programs that the report includes."""

    def __init__(self, programs: Collection[int]):
        self.programs = set(programs)

    def home(self) -> str:
        return "#overview"

    def run(self, key: int) -> str:
        return "#overview"

    def tree(self, key: int) -> str:
        return "#lineage"

    def failures(self, key: int) -> str:
        return "#failures"

    def program(self, key: int, pid: int) -> str:
        return f"#p{int(pid)}" if int(pid) in self.programs else ""
