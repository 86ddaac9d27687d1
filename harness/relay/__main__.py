"""Entry point: ``python3 -m harness.relay``."""

from harness.relay.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
