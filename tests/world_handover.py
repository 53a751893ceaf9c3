"""The handover's routes for the isolation sweep: the platform admin's handover form (its
``code`` is a center's code, reference data) and the public set-password page of an invitation.
An empty body is refused by both forms, so even an allowed caller changes nothing of B's."""
from __future__ import annotations

PAGE_BODIES = {
    "platform_admin.center_handover": {},
    "account_setup.setup": {},
}
