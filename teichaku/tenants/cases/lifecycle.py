"""Case statuses per case type, in one place.

The foundation needs only where each type starts; the full lifecycles and transitions of the
case-work issue extend this table.
"""
from __future__ import annotations

INITIAL_STATUS = {
    "coordination": "request_received",
    "follow_up": "active",
    "suspect_support": "request_received",
    "consultation": "open",
}

NUMBER_PREFIX = {
    "coordination": "CO",
    "follow_up": "FU",
    "suspect_support": "SS",
    "consultation": "CS",
}
