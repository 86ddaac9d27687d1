"""What a node's container is made of: a plain value a kind hands the provision stage (no Docker here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    address: str
    command: Sequence[str]
    env: Mapping[str, str]
    files: Mapping[str, bytes]
    labels: Mapping[str, str]
    address6: str | None = None
    as_root: bool = False
    """Servers run as root with the image's entrypoint reset, so a user's image (rootless, with an entrypoint
    script) runs the harness's own config the same way the built-in images do."""
