"""Cross-tenant modules: work that spans centers (notifications, transfers, ...).

Each package here may have a ``models`` module (found by ``teichaku.app._register_models``).
Cross-tenant reads go through ``platform.tenancy.cross_tenant(purpose)``, which is audited.
"""
