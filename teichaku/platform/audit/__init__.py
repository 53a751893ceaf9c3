"""Append-only, hash-chained audit log: one chain per center, plus a platform chain."""
