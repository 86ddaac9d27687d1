"""The drive stage: the scenario's client sessions, as a real client would send them."""

from harness.drive.clients import run_session

__all__ = ["run_session"]
