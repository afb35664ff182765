"""User-facing errors: each names the file at fault and what to do about it."""

from __future__ import annotations

from pathlib import Path


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


class VideoError(LightningPoseInputError):
    """A video file is missing, unreadable, or cannot be decoded."""


class LabelsError(LightningPoseInputError):
    """A labels or predictions CSV is malformed or does not match the project."""


class ConfigError(LightningPoseInputError):
    """A project config has unknown keys, wrong types or impossible values."""
