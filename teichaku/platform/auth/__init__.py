"""Accounts, passwords, server-side sessions, two-factor authentication and API tokens."""
