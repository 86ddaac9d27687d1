"""One module per node kind: how to configure, start and observe it."""
