"""The relay hop: a small stdlib-only server run as `python3 -m harness.relay`."""
