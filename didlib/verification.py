"""What every verifier in didlib reports: problems with stable codes."""

from __future__ import annotations

from dataclasses import dataclass

from didlib.errors import DidlibError

__all__ = ["Problem"]


@dataclass(frozen=True)
class Problem:
    """One failed check: a stable ``code`` and a message for people."""

    code: str
    message: str

    @classmethod
    def of(cls, error: DidlibError, where: str = "") -> Problem:
        """The problem an error describes, its code kept and its message prefixed with ``where``."""
        return cls(error.code, f"{where}{error.message}")

    def as_dict(self) -> dict[str, str]:
        """The problem as JSON (``code``, ``message``), as results print it."""
        return {"code": self.code, "message": self.message}
