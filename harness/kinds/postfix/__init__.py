"""The `postfix` node kind."""

from harness.kinds.postfix.kind import PostfixKind

KIND = PostfixKind()
