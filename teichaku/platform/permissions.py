"""The one permission table.  Pages, the API, the CLI and the services all consult it.

Deny by default: an endpoint with no entry in ``ENDPOINTS`` is refused with 403 (and the
isolation sweep fails on it), so a new route cannot be reachable by accident.
"""
from __future__ import annotations

from enum import StrEnum

from flask import current_app, has_app_context


class Role(StrEnum):
    STAFF = "staff"                    # 相談員・支援員: one center
    CENTER_ADMIN = "center_admin"      # センター長: one center, manages its accounts
    PREFECTURE = "prefecture"          # 都道府県の担当者: one prefecture (no center), its centers' figures
    ASSOCIATION = "association"        # 全国地域生活定着支援センター協議会
    MINISTRY = "ministry"              # 厚生労働省: national aggregates only
    PLATFORM_ADMIN = "platform_admin"  # operator: provisions centers, never reads case records


# The roles that belong to a center (its tenant scope, its user management, its handover and
# export).  A prefecture official is not one: it belongs to a prefecture (``users.prefecture_code``)
# and is created and managed only by the operator, because it confirms the centers' figures.
CENTER_ROLES = frozenset({Role.STAFF, Role.CENTER_ADMIN})
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
    # 保存期間と削除, 開示請求 (crosstenant/retention): the center admin decides and answers requests.
    "retention.manage": frozenset({Role.CENTER_ADMIN}),
    "person.disclose": frozenset({Role.CENTER_ADMIN}),
    # 広域調整 (transfers): each center works its own side; the association oversees metadata only.
    "transfer.read": PERSONAL_DATA_ROLES,
    "transfer.write": PERSONAL_DATA_ROLES,
    "transfer.approve": frozenset({Role.CENTER_ADMIN}),
    "transfer.oversee": frozenset({Role.ASSOCIATION}),
    "transfer.track": PERSONAL_DATA_ROLES | {Role.ASSOCIATION},  # list/detail: own side, or metadata
    "transfer.provisions.read": frozenset({Role.CENTER_ADMIN}),
    # 事例の共有 (case-study exchange): centers write and read; the association writes its own
    # studies (in its workspace), publishes them and moderates; the ministry and the platform
    # admin read only where EXCHANGE_READABLE_BY_MINISTRY is on (CONFIGURED_GRANTS).
    "exchange.read": PERSONAL_DATA_ROLES | {Role.ASSOCIATION},
    "exchange.write": PERSONAL_DATA_ROLES | {Role.ASSOCIATION},
    "exchange.publish": frozenset({Role.CENTER_ADMIN, Role.ASSOCIATION}),
    "exchange.moderate": frozenset({Role.ASSOCIATION}),
    "exchange.feedback": PERSONAL_DATA_ROLES,  # questions to an author, 参考になった
    # 全国集計 (national aggregates): counts and statistics only, never a record.  Every figure goes
    # through crosstenant/aggregates/reporting (suppressed, or exact for the viewer's own centers).
    "aggregates.read": frozenset({Role.MINISTRY, Role.ASSOCIATION, Role.CENTER_ADMIN, Role.PREFECTURE}),
    "aggregates.national": frozenset({Role.MINISTRY, Role.ASSOCIATION}),
    "aggregates.report": frozenset({Role.CENTER_ADMIN, Role.PREFECTURE}),  # own centers' 業務実績報告
    "aggregates.submit": frozenset({Role.CENTER_ADMIN}),
    "aggregates.confirm": frozenset({Role.PREFECTURE}),
    "aggregates.reopen": frozenset({Role.CENTER_ADMIN, Role.MINISTRY}),
    "platform.centers.manage": frozenset({Role.PLATFORM_ADMIN}),
    "platform.users.manage": frozenset({Role.PLATFORM_ADMIN}),
    "platform.deliveries.manage": frozenset({Role.PLATFORM_ADMIN}),
    "platform.jobs.read": frozenset({Role.PLATFORM_ADMIN}),  # 定期ジョブ: names and times only
    # 職務の分離 (platform/auth/duties.py): the association confirms what the operator starts
    "accounts.confirm": frozenset({Role.ASSOCIATION}),
}
PUBLIC = "public"

# Capabilities a configuration setting extends to more roles (off unless the setting is on).
CONFIGURED_GRANTS: dict[str, tuple[str, frozenset[Role]]] = {
    "exchange.read": ("EXCHANGE_READABLE_BY_MINISTRY", frozenset({Role.MINISTRY, Role.PLATFORM_ADMIN})),
}

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
    "account_setup.setup": PUBLIC,  # an invited account sets its password (one-time signed link)
    "pages.index": "signed_in",
    "pages.dashboard": "signed_in",
    # pages: center administration
    "center_admin.users": "center.users.manage",
    "center_admin.user_new": "center.users.manage",
    "center_admin.user_toggle": "center.users.manage",
    "center_admin.user_reset_second_factor": "center.users.manage",  # staff of the own center only
    "center_admin.audit_log": "center.audit.read",
    # pages: retention and disclosure requests
    "retention.reviews": "retention.manage",
    "retention.erase": "retention.manage",
    "retention.hold": "retention.manage",
    "retention.rules": "retention.manage",
    "retention.disclosure": "person.disclose",
    # pages: platform administration
    "platform_admin.centers": "platform.centers.manage",
    "platform_admin.center_new": "platform.centers.manage",
    "platform_admin.center_edit": "platform.centers.manage",
    "platform_admin.center_invite_admin": "platform.users.manage",  # invites: no password, no link shown
    "platform_admin.second_factor_resets": "platform.users.manage",  # requests: the association confirms
    "confirmations.index": "accounts.confirm",
    "confirmations.decide": "accounts.confirm",
    "platform_admin.center_handover": "platform.users.manage",  # 受託法人の変更: disables and invites accounts
    # prefecture officials belong to a prefecture, not a center: only the operator invites and manages them
    "prefecture_accounts.index": "platform.users.manage",
    "prefecture_accounts.toggle": "platform.users.manage",
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
    "transfers.attachment": "transfer.read",
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
    "api_transfers.get_attachment": "transfer.read",
    "api_transfers.share_update": "transfer.write",
    "api_transfers.reassign_transfer": "transfer.oversee",
    "api_transfers.remind_transfer": "transfer.oversee",
    "api_transfers.compliance_report": "transfer.oversee",
    "api_transfers.provision_records": "transfer.provisions.read",
    # --- cross-tenant: pull requests, 開始依頼 (pages "transfer_pulls.*", API "api_transfer_pulls.*") ---
    "transfer_pulls.index": "transfer.read",
    "transfer_pulls.new": "transfer.write",
    "transfer_pulls.detail": "transfer.read",
    "transfer_pulls.refuse": "transfer.write",
    "transfer_pulls.cancel": "transfer.write",
    "transfer_pulls.confirm": "transfer.write",
    "api_transfer_pulls.list_pulls": "transfer.read",
    "api_transfer_pulls.create_pull": "transfer.write",
    "api_transfer_pulls.get_pull": "transfer.read",
    "api_transfer_pulls.refuse_pull": "transfer.write",
    "api_transfer_pulls.cancel_pull": "transfer.write",
    # --- cross-tenant: case-study exchange, 事例の共有 (pages "case_studies.*", API "api_case_studies.*") ---
    "case_studies.index": "exchange.read",
    "case_studies.new": "exchange.write",
    "case_studies.detail": "exchange.read",
    "case_studies.edit": "exchange.write",
    "case_studies.replace_finding": "exchange.write",
    "case_studies.dismiss_finding": "exchange.write",
    "case_studies.publish": "exchange.publish",
    "case_studies.correct": "exchange.write",
    "case_studies.ask": "exchange.feedback",
    "case_studies.answer": "exchange.write",
    "case_studies.helpful": "exchange.feedback",
    "case_studies.hide": "exchange.moderate",
    "case_studies.unhide": "exchange.moderate",
    "case_studies.withdraw": "exchange.moderate",
    "api_case_studies.list_case_studies": "exchange.read",
    "api_case_studies.create_case_study": "exchange.write",
    "api_case_studies.get_case_study": "exchange.read",
    "api_case_studies.update_case_study": "exchange.write",
    "api_case_studies.resolve_finding": "exchange.write",
    "api_case_studies.publish_case_study": "exchange.publish",
    "api_case_studies.correct_case_study": "exchange.write",
    "api_case_studies.list_questions": "exchange.write",
    "api_case_studies.ask_question": "exchange.feedback",
    "api_case_studies.answer_question": "exchange.write",
    "api_case_studies.mark_helpful": "exchange.feedback",
    "api_case_studies.hide_case_study": "exchange.moderate",
    "api_case_studies.unhide_case_study": "exchange.moderate",
    "api_case_studies.withdraw_case_study_version": "exchange.moderate",
    # --- cross-tenant: national aggregates (pages "aggregates.*", API "api_aggregates.*") ---
    "aggregates.index": "aggregates.read",
    "aggregates.national": "aggregates.national",
    "aggregates.center": "aggregates.submit",
    "aggregates.prefecture": "aggregates.confirm",
    "aggregates.report": "aggregates.report",
    "aggregates.report_xlsx": "aggregates.report",
    "aggregates.export": "aggregates.read",
    "aggregates.submit": "aggregates.submit",
    "aggregates.confirm": "aggregates.confirm",
    "aggregates.reopen": "aggregates.reopen",
    "api_aggregates.cases": "aggregates.read",
    "api_aggregates.dashboard": "aggregates.national",
    # --- cross-tenant: notifications (pages "notifications.*", "deliveries.*"; API "api_notifications.*") ---
    "notifications.inbox": "signed_in",
    "notifications.read": "signed_in",
    "notifications.read_all": "signed_in",
    "notifications.preferences": "signed_in",
    "deliveries.index": "platform.deliveries.manage",
    "deliveries.retry": "platform.deliveries.manage",
    "periodic_jobs.index": "platform.jobs.read",
    "api_notifications.list_notifications": "signed_in",
    "api_notifications.mark_read": "signed_in",
}


def can(role: str | None, capability: str) -> bool:
    """Whether a role holds a capability; unknown capabilities are refused."""
    if capability == PUBLIC:
        return True
    allowed = CAPABILITIES.get(capability)
    if not role or allowed is None:
        return False
    return Role(role) in allowed or _granted_by_configuration(Role(role), capability)


def _granted_by_configuration(role: Role, capability: str) -> bool:
    """A grant of ``CONFIGURED_GRANTS`` whose setting is on in the running app (never outside one)."""
    grant = CONFIGURED_GRANTS.get(capability)
    if grant is None or role not in grant[1] or not has_app_context():
        return False
    return bool(current_app.config.get(grant[0], False))


def capability_for(endpoint: str | None) -> str | None:
    return ENDPOINTS.get(endpoint or "")
