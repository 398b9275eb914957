"""The package's errors: one root, one class per kind of failure a user can act on."""
from __future__ import annotations


class TfHptuneError(Exception):
    """Root of every error raised on purpose by tf_hptune."""


class SpecError(TfHptuneError, ValueError):
    """A tuning config is invalid; ``path`` names the field, ``value`` the bad value."""

    def __init__(self, path: str, value: object, problem: str) -> None:
        self.path = path
        self.value = value
        self.problem = problem
        shown = f" (got {value!r})" if value is not _NO_VALUE else ""
        super().__init__(f"{path}: {problem}{shown}" if path else f"{problem}{shown}")


class _NoValue:
    def __repr__(self) -> str:  # pragma: no cover - never shown
        return "<no value>"


_NO_VALUE = _NoValue()
SpecError.NO_VALUE = _NO_VALUE  # type: ignore[attr-defined]


class StoreError(TfHptuneError):
    """The job store cannot be read or written."""


class JobNotFoundError(StoreError, KeyError):
    """No job of that name in the store."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "job not found"


class JobExistsError(StoreError):
    """A job of that name already exists in the store."""


class JobNameError(TfHptuneError, ValueError):
    """A job name breaks the service's rule."""


class LaunchError(TfHptuneError):
    """A trial process could not be started."""


class UsageError(TfHptuneError, ValueError):
    """Bad input to a command or a lifecycle call: a flag, a path, a job in the wrong state
    (exit status 2 in the CLI)."""


class UnsafePathError(TfHptuneError, OSError):
    """A directory or file that tf-hptune will not write in: a link it did not make, someone
    else's, or writable by others."""
