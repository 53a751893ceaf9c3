"""People supported by a center (対象者)."""
