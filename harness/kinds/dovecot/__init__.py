"""The `dovecot` node kind."""

from harness.kinds.dovecot.kind import DovecotKind

KIND = DovecotKind()
