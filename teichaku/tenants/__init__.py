"""Tenant-local domain: everything here belongs to one center and is scoped by ``platform.tenancy``."""
