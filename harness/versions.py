"""The built-in server matrix: which Debian suite gives which server version."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerRelease:
    family: str
    major: str
    suite: str

    @property
    def label(self) -> str:
        return f"{self.family}-{self.major}"


DOVECOT_RELEASES = (
    ServerRelease("dovecot", "2.3", "bookworm"),
    ServerRelease("dovecot", "2.4", "trixie"),
)
RELAY_SUITE = "bookworm"


def dovecot_release(major: str) -> ServerRelease:
    for release in DOVECOT_RELEASES:
        if release.major == major:
            return release
    known = ", ".join(r.major for r in DOVECOT_RELEASES)
    raise ValueError(f"no built-in Dovecot {major}: the matrix has {known}")


def major_of(version: str) -> str:
    """`2.4.1-4 (7d8c0e5759)` -> `2.4`."""
    return ".".join(version.split()[0].split("-")[0].split(".")[:2])
