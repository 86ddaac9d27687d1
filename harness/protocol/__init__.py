"""Pure, standard-library-only protocol codecs (no sockets, no I/O)."""
