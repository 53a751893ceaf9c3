"""Retention and erasure of a person's data, and the person's disclosure request (開示請求)."""
