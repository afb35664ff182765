"""User-facing errors: each names the file at fault and what to do about it."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any


class LightningPoseInputError(ValueError):
    """Bad user input (file, config, labels); the message names the file and the fix."""

    def __init__(self, path: str | Path | None, problem: str, fix: str = "") -> None:
        self.path = Path(path) if path is not None else None
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: " if self.path is not None else ""
        message = f"{where}{problem}"
        if fix:
            message += f" {fix}"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled by its parts (a job in a child process sends its errors to the window)."""
        return (type(self), (self.path, self.problem, self.fix))


class VideoError(LightningPoseInputError):
    """A video file is missing, unreadable, or cannot be decoded."""


class LabelsError(LightningPoseInputError):
    """A labels or predictions CSV is malformed or does not match the project."""


class ConfigError(LightningPoseInputError):
    """A project config has unknown keys, wrong types or impossible values."""


class CheckpointError(LightningPoseInputError):
    """A checkpoint file is missing, unreadable, or does not match the project."""


class TrainingDivergedError(LightningPoseInputError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


#: The pip command that installs the import/export packages (pyproject's ``interop`` extra).
INTEROP_INSTALL = 'pip install "napari-lightning-pose[interop]"'


class MissingExtraError(LightningPoseInputError):
    """An optional package a command needs is not installed; the message names the extra."""


def import_optional(module: str, purpose: str) -> Any:
    """Import ``module`` (a package of the ``interop`` extra) for ``purpose``.

    Raises
    ------
    MissingExtraError
        It is not installed (or fails to import); the message says which extra to install.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(
            None,
            f"{purpose} needs the optional package {module.split('.')[0]!r} ({err}).",
            f"Install the import/export extra: {INTEROP_INSTALL}",
        ) from err
