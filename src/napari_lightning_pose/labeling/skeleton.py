"""Skeletons: the edges typed as text (``parse_skeleton``) and those of a file's project;
and the keypoint names typed beside them (``parse_keypoints``).

A skeleton is pairs of keypoint names (``data.skeleton``) that the viewer draws lines between.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.labeling.project import Project


def parse_keypoints(text: str) -> list[str]:
    """Keypoint names from free text: separated by commas, semicolons or whitespace.

    ``"nose, paw_left paw_right"`` gives ``["nose", "paw_left", "paw_right"]``. Duplicates are
    kept (the config check reports them with the config's name).
    """
    return [name for name in re.split(r"[,;\s]+", text.strip()) if name]


def parse_skeleton(text: str, keypoints: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Skeleton edges from text such as ``"nose-paw_left, nose-paw_right"``.

    Edges are separated by commas, semicolons or new lines; the two ends of an edge by ``-``
    (or ``:``/``>``/whitespace). With ``keypoints`` (the project's names), an entry is split
    where both sides are keypoints, so names containing ``-`` work (``"ear-l - ear-r"``);
    without them, a single ``:`` or ``>`` in an entry is its split (``"ear-l:ear-r"``).
    Raises ``ValueError`` naming an entry that is not a pair.
    """
    names = set(keypoints)
    edges = []
    for part in re.split(r"[,;\n]+", text):
        part = part.strip()
        if not part:
            continue
        edge = _split_known(part, names) if names else None
        edges.append(edge or _split_plain(part))
    return edges


def _split_plain(part: str) -> tuple[str, str]:
    """``part`` split at its one ``:``/``>``, else at its one ``-`` or whitespace."""
    for separator in (r"\s*[:>]\s*", r"\s*(?:-|:|>)\s*|\s+"):
        ends = [e for e in re.split(separator, part) if e]
        if len(ends) == 2:
            return ends[0], ends[1]
    raise ValueError(f"skeleton entry {part!r} is not a pair like 'nose-tail'")


def _split_known(part: str, names: set[str]) -> tuple[str, str] | None:
    """``part`` split at a separator with a known keypoint on each side, or None."""
    for sep in re.finditer(r"\s*(?:-|:|>)\s*|\s+", part):
        left, right = part[: sep.start()].strip(), part[sep.end() :].strip()
        if left in names and right in names:
            return left, right
    return None


def project_skeleton(csv_path: Path, keypoints: Sequence[str]) -> list[tuple[str, str]]:
    """The skeleton of the project the file belongs to (its ``config.yaml`` above
    ``predictions/``, or ``project/config.yaml`` beside it as the demo writes it:
    ``ensemble.files.find_project_config``) when its keypoints are the file's, else none."""
    from napari_lightning_pose.ensemble.files import find_project_config

    config = find_project_config(csv_path)
    if config is None:
        return []
    try:
        project = Project.open(config)
    except ConfigError:
        return []
    if set(project.keypoint_names) != set(keypoints):
        return []  # named in a warning where the layers are added (layer_watch)
    return [(str(a), str(b)) for a, b in project.skeleton]
