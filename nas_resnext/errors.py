"""The error raised for bad user input: the CLI turns it into one line and exit code 2."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad input: names where it came from, the field, the bad value and what is allowed.

    ``str(error)`` is the single line shown to the user, e.g.
    ``space.yaml: axes.cardinality.low: got 0; allowed: an integer >= 1``.
    """

    def __init__(
        self, field: str, value: object, allowed: str, source: str | None = None, note: str | None = None
    ) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.source = source
        self.note = note  # replaces "got ...; allowed: ..." where no single bad value is to blame
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.source}: " if self.source else ""
        if self.note:
            return f"{where}{self.field}: {self.note}"
        return f"{where}{self.field}: got {self.value!r}; allowed: {self.allowed}"

    def within(self, source: str, prefix: str = "") -> ConfigError:
        """The same error, attributed to ``source`` (a file or flag) and nested under ``prefix``."""
        field = f"{prefix}.{self.field}" if prefix else self.field
        return ConfigError(field, self.value, self.allowed, source=source, note=self.note)
