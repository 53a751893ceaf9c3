"""The one permission table.  Pages, the API, the CLI and the services all consult it.

Deny by default: an endpoint with no entry in ``ENDPOINTS`` is refused with 403 (and the
isolation sweep fails on it), so a new route cannot be reachable by accident.
"""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    STAFF = "staff"                    # 相談員・支援員: one center
    CENTER_ADMIN = "center_admin"      # センター長: one center, manages its accounts
    PREFECTURE = "prefecture"          # 都道府県の担当者: figures of its prefecture's centers
    ASSOCIATION = "association"        # 全国地域生活定着支援センター協議会
    MINISTRY = "ministry"              # 厚生労働省: national aggregates only
    PLATFORM_ADMIN = "platform_admin"  # operator: provisions centers, never reads case records


CENTER_ROLES = frozenset({Role.STAFF, Role.CENTER_ADMIN, Role.PREFECTURE})
PERSONAL_DATA_ROLES = frozenset({Role.STAFF, Role.CENTER_ADMIN})
ALL_ROLES = frozenset(Role)

ROLE_LABELS = {
    Role.STAFF: "センター職員",
    Role.CENTER_ADMIN: "センター長（管理者）",
    Role.PREFECTURE: "都道府県担当者",
    Role.ASSOCIATION: "全国協議会",
    Role.MINISTRY: "厚生労働省",
    Role.PLATFORM_ADMIN: "プラットフォーム管理者",
}

# Capabilities: what a role may do, whatever the door (page, API, CLI, job).
CAPABILITIES: dict[str, frozenset[Role]] = {
    "public": frozenset(),  # no sign-in needed (see PUBLIC below)
    "signed_in": ALL_ROLES,
    "case.read": PERSONAL_DATA_ROLES,
    "case.write": PERSONAL_DATA_ROLES,
    "center.users.manage": frozenset({Role.CENTER_ADMIN}),
    "center.audit.read": frozenset({Role.CENTER_ADMIN}),
    "platform.centers.manage": frozenset({Role.PLATFORM_ADMIN}),
    "platform.users.manage": frozenset({Role.PLATFORM_ADMIN}),
}
PUBLIC = "public"

# Endpoint -> capability.  Blueprint endpoints are "<blueprint>.<view>".
ENDPOINTS: dict[str, str] = {
    "static": PUBLIC,
    "health.healthz": PUBLIC,
    # pages: sign-in and account
    "auth.login": PUBLIC,
    "auth.login_otp": PUBLIC,
    "auth.logout": "signed_in",
    "auth.password": "signed_in",
    "auth.totp_setup": "signed_in",
    "auth.totp_disable": "signed_in",
    "auth.set_locale": PUBLIC,
    "pages.index": "signed_in",
    "pages.dashboard": "signed_in",
    # pages: center administration
    "center_admin.users": "center.users.manage",
    "center_admin.user_new": "center.users.manage",
    "center_admin.user_toggle": "center.users.manage",
    "center_admin.audit_log": "center.audit.read",
    # pages: platform administration
    "platform_admin.centers": "platform.centers.manage",
    "platform_admin.center_new": "platform.centers.manage",
    "platform_admin.center_edit": "platform.centers.manage",
    "platform_admin.center_first_admin": "platform.users.manage",
    # pages: case work
    "cases.list": "case.read",
    "cases.new": "case.write",
    "cases.detail": "case.read",
    "cases.edit": "case.write",
    # API
    "api-docs.openapi_json": PUBLIC,
    "api_auth.token_create": PUBLIC,
    "api_auth.token_delete": "signed_in",
    "api_auth.me": "signed_in",
    "api_centers.list_centers": "signed_in",
    "api_cases.list_cases": "case.read",
    "api_cases.create_case": "case.write",
    "api_cases.get_case": "case.read",
    "api_cases.update_case": "case.write",
    # --- case work: records and plans (pages "records.*", API "api_records.*") ---
    # --- case work: review committees (pages "committees.*", API "api_committees.*") ---
    # --- case work: local resources (pages "resources.*", API "api_resources.*") ---
    # --- case work: network activities (pages "activities.*", API "api_activities.*") ---
}


def can(role: str | None, capability: str) -> bool:
    """Whether a role holds a capability; unknown capabilities are refused."""
    if capability == PUBLIC:
        return True
    allowed = CAPABILITIES.get(capability)
    return bool(role) and allowed is not None and Role(role) in allowed


def capability_for(endpoint: str | None) -> str | None:
    return ENDPOINTS.get(endpoint or "")
