"""Read YAML configs as Lightning Pose does (OmegaConf): its numbers and ``${...}`` references.

Only what Lightning Pose's configs use: floats such as ``1e-3`` (a string to PyYAML's YAML
1.1 rules), references to other keys (``${data.data_dir}``), ``${oc.env:NAME,default}`` and
Lightning Pose's ``${LP_ROOT_PATH:}``. No other OmegaConf machinery.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from napari_lightning_pose.errors import ConfigError

# Sections of Lightning Pose configs that we carry along untouched (not resolved).
PASSTHROUGH_SECTIONS = ("dali", "eval", "callbacks", "hydra", "detector")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader that reads ``1e-3`` as a float, as OmegaConf (Lightning Pose) does.

    YAML 1.1 (PyYAML) needs a dot in a float, so ``1e-3`` would be the string ``"1e-3"``.
    LibYAML's parser where PyYAML has it (its wheels do): a config is read ~10x faster, and
    the window reads one whenever a result layer is added.
    """


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Parse a YAML file that holds a mapping (any config file), references left as text.

    Numbers as OmegaConf reads them (``1e-3`` is a float). An empty file is ``{}``. Raises
    ``ConfigError`` naming the file when it cannot be read, is not YAML or is not a mapping.
    """
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
    except yaml.YAMLError as err:
        raise ConfigError(path, f"is not valid YAML: {err}") from err
    except OSError as err:
        raise ConfigError(path, f"cannot be read: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(path, "the config must be a YAML mapping of sections.")
    return raw


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a config file as Lightning Pose does: OmegaConf numbers and ``${...}`` references.

    ``${data.data_dir}``-style references to other keys and ``${oc.env:NAME,default}`` are
    resolved in every section we use (``data``, ``training``, ``model``, ``losses``);
    ``${LP_ROOT_PATH:}`` (Lightning Pose's install folder) is the ``LP_ROOT_PATH`` environment
    variable, else empty. Sections only Lightning Pose uses (``hydra`` ...) are left as read.
    """
    path = Path(path)
    raw = read_yaml_mapping(path)
    for key, value in raw.items():
        if key not in PASSTHROUGH_SECTIONS:
            raw[key] = _resolve(value, raw, path, ())
    return raw


_REF = re.compile(r"\$\{([^${}]*)\}")


def _resolve(value: Any, root: Mapping[str, Any], path: Path, seen: tuple[str, ...]) -> Any:
    """``value`` with its ``${...}`` references replaced (recursively, cycles refused)."""
    if isinstance(value, dict):
        return {k: _resolve(v, root, path, seen) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, root, path, seen) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = _REF.fullmatch(value)
    if whole:  # a lone reference keeps the referenced value's type
        return _lookup(whole.group(1).strip(), root, path, seen)
    return _REF.sub(lambda m: str(_lookup(m.group(1).strip(), root, path, seen)), value)


def _lookup(ref: str, root: Mapping[str, Any], path: Path, seen: tuple[str, ...]) -> Any:
    if ":" in ref:
        name, _, args = ref.partition(":")
        if name == "oc.env":
            var, _, default = args.partition(",")
            return os.environ.get(var.strip(), default.strip())
        if name == "LP_ROOT_PATH":
            return os.environ.get("LP_ROOT_PATH", "")
        raise ConfigError(
            path,
            f"uses the OmegaConf resolver ${{{ref}}}, which this plugin cannot evaluate.",
            "Replace it with the value it stands for.",
        )
    if ref in seen:
        raise ConfigError(path, f"the reference ${{{ref}}} refers to itself.")
    node: Any = root
    for part in ref.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(path, f"the reference ${{{ref}}} names no key of the config.")
        node = node[part]
    return _resolve(node, root, path, (*seen, ref))
