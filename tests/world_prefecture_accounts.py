"""The operator's prefecture-official pages for the isolation sweep: the list with its invitation
form and the disable/enable button (its ``user_id`` is swept with B's staff account, which is no
prefecture official: 404 like a random id).  An empty body is refused by the form."""
from __future__ import annotations

PAGE_BODIES = {
    "prefecture_accounts.index": {},
    "prefecture_accounts.toggle": {},
}
