"""Retention and erasure of a person's data, and the person's disclosure request (開示請求).

Why here, above the tenant-local domain: everything retention does is within one center (no
``cross_tenant`` scope is opened here), but what hangs off a person reaches into the cross-tenant
packages: this center's side of its transfers and pull requests (kept open, erased to a stub,
disclosed with their threads and files), the case-study drafts written from its cases, and the
review's notice in the center admin's inbox.  A module sits in the lowest layer whose imports it
needs (docs/DEVELOPING.md), and that layer is ``crosstenant``.  The alternative, a registry in
the tenant layer that transfers and exchange fill with their per-person hooks, would move the
erasure and disclosure rules of those rows away from the one module that states them together
(the SECURITY DEFINER function ``retention_erase_person`` deletes and blanks them in one place).
Nothing below imports this package; the pages, the CLI and the monthly job call it.
"""
