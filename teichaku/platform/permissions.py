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
    "case.override_eligibility": frozenset({Role.CENTER_ADMIN}),
    "center.users.manage": frozenset({Role.CENTER_ADMIN}),
    "center.audit.read": frozenset({Role.CENTER_ADMIN}),
    # 広域調整 (transfers): each center works its own side; the association oversees metadata only.
    "transfer.read": PERSONAL_DATA_ROLES,
    "transfer.write": PERSONAL_DATA_ROLES,
    "transfer.approve": frozenset({Role.CENTER_ADMIN}),
    "transfer.oversee": frozenset({Role.ASSOCIATION}),
    "transfer.track": PERSONAL_DATA_ROLES | {Role.ASSOCIATION},  # list/detail: own side, or metadata
    "transfer.provisions.read": frozenset({Role.CENTER_ADMIN}),
    "platform.centers.manage": frozenset({Role.PLATFORM_ADMIN}),
    "platform.users.manage": frozenset({Role.PLATFORM_ADMIN}),
    "platform.deliveries.manage": frozenset({Role.PLATFORM_ADMIN}),
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
    "cases.eligibility": "case.write",
    "cases.override": "case.override_eligibility",
    "cases.transition": "case.write",
    "cases.follow_up": "case.write",
    "cases.need": "case.write",
    "cases.pre_release": "case.read",
    "reminders.dismiss": "case.write",
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
    "api_cases.search_cases": "case.read",
    "api_cases.pre_release": "case.read",
    "api_cases.search_persons": "case.read",
    "api_cases.transition_case": "case.write",
    "api_cases.open_follow_up": "case.write",
    "api_cases.set_eligibility": "case.write",
    "api_cases.override_eligibility": "case.override_eligibility",
    "api_cases.update_need": "case.write",
    # --- case work: records and plans (pages "records.*", API "api_records.*") ---
    "records.record_new": "case.write",
    "records.record": "case.read",
    "records.record_edit": "case.write",
    "records.document_new": "case.write",
    "records.document_download": "case.read",
    "records.plan_new": "case.write",
    "records.plan": "case.read",
    "records.plan_revise": "case.write",
    "records.plan_compare": "case.read",
    "records.plan_print": "case.read",
    "api_records.list_records": "case.read",
    "api_records.create_record": "case.write",
    "api_records.get_record": "case.read",
    "api_records.update_record": "case.write",
    "api_records.list_documents": "case.read",
    "api_records.upload_document": "case.write",
    "api_records.get_document": "case.read",
    "api_records.get_document_content": "case.read",
    "api_records.list_plans": "case.read",
    "api_records.create_plan": "case.write",
    "api_records.get_plan": "case.read",
    "api_records.create_revision": "case.write",
    "api_records.get_revision": "case.read",
    # --- case work: review committees (pages "committees.*", API "api_committees.*") ---
    "committees.members": "case.read",
    "committees.member_new": "case.write",
    "committees.member_edit": "case.write",
    "committees.meetings": "case.read",
    "committees.meeting_new": "case.write",
    "committees.meeting_detail": "case.read",
    "committees.meeting_edit": "case.write",
    "committees.agenda_item_new": "case.write",
    "committees.agenda_item_edit": "case.write",
    "committees.agenda_item_remove": "case.write",
    "committees.advice": "case.write",
    "committees.follow_up": "case.write",
    "committees.handout": "case.read",
    "committees.case_history": "case.read",
    "api_committees.list_members": "case.read",
    "api_committees.create_member": "case.write",
    "api_committees.get_member": "case.read",
    "api_committees.update_member": "case.write",
    "api_committees.list_meetings": "case.read",
    "api_committees.create_meeting": "case.write",
    "api_committees.get_meeting": "case.read",
    "api_committees.update_meeting": "case.write",
    "api_committees.create_agenda_item": "case.write",
    "api_committees.get_agenda_item": "case.read",
    "api_committees.update_agenda_item": "case.write",
    "api_committees.delete_agenda_item": "case.write",
    "api_committees.record_advice": "case.write",
    "api_committees.record_follow_up": "case.write",
    "api_committees.review_history": "case.read",
    # --- case work: local resources (pages "resources.*", API "api_resources.*") ---
    "resources.index": "case.read",
    "resources.new": "case.write",
    "resources.detail": "case.read",
    "resources.edit": "case.write",
    "api_resources.list_resources": "case.read",
    "api_resources.create_resource": "case.write",
    "api_resources.get_resource": "case.read",
    "api_resources.update_resource": "case.write",
    # --- case work: network activities (pages "activities.*", API "api_activities.*") ---
    "activities.index": "case.read",
    "activities.new": "case.write",
    "activities.detail": "case.read",
    "activities.edit": "case.write",
    "activities.summary": "case.read",
    "activities.summary_export": "case.read",
    "api_activities.list_activities": "case.read",
    "api_activities.create_activity": "case.write",
    "api_activities.get_activity": "case.read",
    "api_activities.update_activity": "case.write",
    "api_activities.activity_summary": "case.read",
    "api_activities.export_activity_summary": "case.read",
    # --- cross-tenant: transfers (pages "transfers.*", API "api_transfers.*") ---
    "transfers.index": "transfer.read",
    "transfers.new": "transfer.write",
    "transfers.detail": "transfer.track",
    "transfers.letter": "transfer.read",
    "transfers.accept": "transfer.write",
    "transfers.decline": "transfer.write",
    "transfers.withdraw": "transfer.write",
    "transfers.complete": "transfer.write",
    "transfers.message": "transfer.write",
    "transfers.share_update": "transfer.write",
    "transfers.approve": "transfer.approve",
    "transfers.oversight": "transfer.oversee",
    "transfers.remind": "transfer.oversee",
    "transfers.reassign": "transfer.oversee",
    "transfers.report": "transfer.oversee",
    "transfers.report_export": "transfer.oversee",
    "transfers.provisions": "transfer.provisions.read",
    "transfers.provisions_export": "transfer.provisions.read",
    "api_transfers.list_transfers": "transfer.track",
    "api_transfers.create_transfer": "transfer.write",
    "api_transfers.get_transfer": "transfer.track",
    "api_transfers.accept_transfer": "transfer.write",
    "api_transfers.decline_transfer": "transfer.write",
    "api_transfers.withdraw_transfer": "transfer.write",
    "api_transfers.approve_transfer": "transfer.approve",
    "api_transfers.complete_transfer": "transfer.write",
    "api_transfers.list_messages": "transfer.read",
    "api_transfers.post_message": "transfer.write",
    "api_transfers.share_update": "transfer.write",
    "api_transfers.reassign_transfer": "transfer.oversee",
    "api_transfers.remind_transfer": "transfer.oversee",
    "api_transfers.compliance_report": "transfer.oversee",
    "api_transfers.provision_records": "transfer.provisions.read",
    # --- cross-tenant: notifications (pages "notifications.*", "deliveries.*"; API "api_notifications.*") ---
    "notifications.inbox": "signed_in",
    "notifications.read": "signed_in",
    "notifications.read_all": "signed_in",
    "notifications.preferences": "signed_in",
    "deliveries.index": "platform.deliveries.manage",
    "deliveries.retry": "platform.deliveries.manage",
    "api_notifications.list_notifications": "signed_in",
    "api_notifications.mark_read": "signed_in",
}


def can(role: str | None, capability: str) -> bool:
    """Whether a role holds a capability; unknown capabilities are refused."""
    if capability == PUBLIC:
        return True
    allowed = CAPABILITIES.get(capability)
    return bool(role) and allowed is not None and Role(role) in allowed


def capability_for(endpoint: str | None) -> str | None:
    return ENDPOINTS.get(endpoint or "")
