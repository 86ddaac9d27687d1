"""The drive stage: the scenario's client sessions, as a real client would send them. `run_session` picks the
client driver (`harness.drive.<wire>`) from the session's protocol row."""

from harness.drive.conversation import run_session
from harness.drive.xclient import xclient_line

__all__ = ["run_session", "xclient_line"]
