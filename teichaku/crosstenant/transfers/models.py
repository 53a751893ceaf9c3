"""広域調整: a transfer keeps one row per side.

The sending center's row (``side = 'sending'``) and the receiving center's row
(``side = 'receiving'``) share ``group_id``; each lives in its own center (``center_id``), so the
global filter and row-level security show each center only its own side.  The services touch
the counterpart's row only inside ``tenancy.cross_tenant(...)``.

The receiving row carries the minimum identity the receiving center needs to decide
(``person_snapshot``) and the release date; it gets its own ``case_id`` when it accepts.  The
sending row keeps the sending center's ``case_id`` and the package it chose.  The association
reads metadata only (see ``oversight``).

``provision_records`` is the APPI record of each provision of personal data to a third party
(第三者提供記録), kept in the providing center and never changed or deleted by the application.

``transfer_pulls`` is the destination center's pull request (開始依頼), also one row per side.
Both kinds share their columns and behaviour (``SideRow``) and their constraints
(``side_constraints``); ``sides`` loads, locks, lists and shows either.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import ClassVar

from sqlalchemy import (
    JSON, CheckConstraint, Date, ForeignKey, ForeignKeyConstraint, Index, Integer, String, Text, Uuid, text,
)
from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ...platform.extensions import db
from ...platform.models import AwareDateTime, TenantOwned, Timestamped, utcnow
from ...tenants.cases.models import Case  # noqa: F401  (mapper registration: the foreign keys point at cases)
from . import lifecycle as lc
from .lifecycle import (
    CONSENT_METHODS, DECLINE_REASONS, MESSAGE_KINDS, OPEN_STATUSES, PROVISION_BASES, PULL_OPEN_STATUSES, PULL_SIDES,
    PULL_STATUSES, SIDES, STATUSES, sql_in,
)


def side_constraints(table: str, *, sides: tuple[str, str], statuses: tuple[str, ...],
                     open_statuses: tuple[str, ...]) -> tuple:
    """The constraints and indexes every one-row-per-side table has, under the names its migration
    gave them: the own case (composite key), the side, status and consent CHECKs, two different
    centers, at most one open request per case and answering center (a partial unique index on
    the asking side), and the list, case and group indexes."""
    open_where = f"side = '{sides[0]}' AND status IN {sql_in(open_statuses)}"
    return (
        ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"],
                             name=f"fk_{table}_center_id_case_id_cases"),
        CheckConstraint(f"side IN {sql_in(sides)}", name="side"),
        CheckConstraint(f"status IN {sql_in(statuses)}", name="status"),
        CheckConstraint(f"consent_method IN {sql_in(CONSENT_METHODS)}", name="consent_method"),
        CheckConstraint("consent_method <> 'oral_with_witness' OR coalesce(consent_witness, '') <> ''",
                        name="oral_consent_has_witness"),
        CheckConstraint("center_id <> counterpart_center_id", name="two_centers"),
        Index(f"uq_{table}_open_request", "center_id", "case_id", "counterpart_center_id", unique=True,
              postgresql_where=text(open_where), sqlite_where=text(open_where)),
        Index(f"ix_{table}_center_created", "center_id", "created_at", "id"),
        Index(f"ix_{table}_center_case", "center_id", "case_id"),
        Index(f"ix_{table}_group", "group_id", "side"),
    )


class SideRow(TenantOwned, Timestamped):
    """One center's side of a request between two centers: a transfer (``Transfer``) or a pull
    request (``TransferPull``).

    Why a mixin: both keep one row per side joined by ``group_id``, each in its own center, with
    the same consent record, message, minimum identity (held by one side only, erased when that
    center will not take the person on) and release date, and the same optimistic version.
    Written once here, a change to one reaches the other; the tables themselves are unchanged
    (their migrations made them, ``tests/test_migrations.py`` compares).  A subclass names its
    sides (the asking side first), statuses, the status column's width and the audit's object
    type; ``side_constraints`` gives its table the shared constraints.
    """

    SIDES: ClassVar[tuple[str, str]]  # (the asking side, the answering side)
    STATUS_LENGTH: ClassVar[int]
    OPEN_STATUSES: ClassVar[tuple[str, ...]]  # at most one such request per case and answering center
    ACTOR_SIDE: ClassVar[dict[str, str]]  # action -> the side whose center takes it
    OBJECT_TYPE: ClassVar[str]  # the audit entries' object_type
    IDENTITY_HOLDER: ClassVar[str]  # the side that holds the person's minimum identity
    NOT_TAKEN_ON_STATUSES: ClassVar[tuple[str, ...]]  # the holder no longer needs the identity

    side: Mapped[str] = mapped_column(String(10), nullable=False)
    group_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)

    @declared_attr
    def counterpart_center_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, ForeignKey("centers.id"), nullable=False)

    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the own side's case (see each model)

    @declared_attr
    def status(cls) -> Mapped[str]:
        return mapped_column(String(cls.STATUS_LENGTH), nullable=False)

    # The person's consent to the provision (APPI): when, how, who witnessed, to what extent.
    consent_obtained_on: Mapped[date] = mapped_column(Date, nullable=False)
    consent_method: Mapped[str] = mapped_column(String(20), nullable=False)
    consent_witness: Mapped[str | None] = mapped_column(String(100))
    consent_scope: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text, default="", nullable=False)
    # The identity holder's side only: the minimum identity (none_as_null: an erased identity is
    # SQL NULL, not the JSON value null), and when it was erased (the center no longer needs it).
    person_snapshot: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    snapshot_erased_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    release_date: Mapped[date | None] = mapped_column(Date)
    requested_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow, nullable=False)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # user ids, as every "*_by_id"
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict:
        return {"version_id_col": cls.__table__.c.version}

    @property
    def public_id(self) -> uuid.UUID:
        """The request's one id outside: the group's, the same for both centers and the association
        (the API's ``id``, every ``/<id>`` URL, a notification's ``transfer_id`` / ``pull_id``).  A
        row's own ``id`` stays inside; ``sides.get_own`` resolves the public id to the own row."""
        return self.group_id

    @property
    def asking(self) -> bool:
        """Whether this is the side that asked (a transfer's sending, a pull's asking side)."""
        return self.side == self.SIDES[0]

    def answering_row(self, **fields) -> SideRow:
        """The answering center's row of this request (in that center, the other side): the same
        group, consent, message and request, no case of its own yet; ``fields`` adds the rest."""
        return type(self)(center_id=self.counterpart_center_id, side=self.SIDES[1], group_id=self.group_id,
                          counterpart_center_id=self.center_id, case_id=None, **self.consent_fields(),
                          message=self.message, requested_at=self.requested_at,
                          requested_by_id=self.requested_by_id, **fields)

    def consent_fields(self) -> dict:
        """The consent record as column values (copied to the other side's row and to a provision)."""
        return {"consent_obtained_on": self.consent_obtained_on, "consent_method": self.consent_method,
                "consent_witness": self.consent_witness, "consent_scope": self.consent_scope}

    def consent_view(self) -> dict:
        """The consent record as the API and pages show it."""
        return {"obtained_on": self.consent_obtained_on, "method": self.consent_method,
                "witness": self.consent_witness, "scope": self.consent_scope}


class Transfer(SideRow, db.Model):
    """One side of a transfer (広域調整の依頼): ``sending`` (the facility's center, its case) or
    ``receiving`` (the minimum identity; its own case once it accepts)."""

    __tablename__ = "transfers"
    __table_args__ = (
        *side_constraints("transfers", sides=SIDES, statuses=STATUSES, open_statuses=OPEN_STATUSES),
        CheckConstraint(f"decline_reason IS NULL OR decline_reason IN {sql_in(DECLINE_REASONS)}", name="decline_reason"),
        CheckConstraint("status <> 'declined' OR (decline_reason IS NOT NULL AND declined_at IS NOT NULL)",
                        name="declined_has_reason"),
        CheckConstraint("status NOT IN ('accepted','completed') OR accepted_at IS NOT NULL", name="accepted_has_time"),
        CheckConstraint("side = 'receiving' OR case_id IS NOT NULL", name="sending_has_case"),
        CheckConstraint("side = 'sending' OR status NOT IN ('accepted','completed') OR case_id IS NOT NULL",
                        name="accepted_receiving_has_case"),
        CheckConstraint("side = 'receiving' OR status <> 'reassigned'", name="only_receiving_reassigned"),
        CheckConstraint("number_seq > 0", name="number_seq"),
        # The number is the sending center's counter per fiscal year; the receiving rows carry a copy.
        Index("uq_transfers_number", "center_id", "number_fiscal_year", "number_seq", unique=True,
              postgresql_where=text("side = 'sending'"), sqlite_where=text("side = 'sending'")),
    )
    SIDES, STATUS_LENGTH, OBJECT_TYPE = lc.SIDES, 20, "transfer"
    OPEN_STATUSES, ACTOR_SIDE = lc.OPEN_STATUSES, lc.ACTOR_SIDE
    IDENTITY_HOLDER, NOT_TAKEN_ON_STATUSES = "receiving", lc.NOT_TAKEN_ON_STATUSES

    # The human-readable number (広域-R8-0012, ``number``): the sending center's fiscal year and counter.
    number_fiscal_year: Mapped[int] = mapped_column(Integer, nullable=False)
    number_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    # Sending: [{"kind", "id", "label", ("revision")}]; receiving: [{"kind", "label", ("copied_id")}]
    package: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    decline_reason: Mapped[str | None] = mapped_column(String(20))
    decline_comment: Mapped[str | None] = mapped_column(Text)
    # Who did what when (the association's user for a reassignment).
    approved_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    approved_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    sent_at: Mapped[datetime | None] = mapped_column(AwareDateTime)  # when the receiving center got it
    accepted_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    accepted_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    declined_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    declined_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    withdrawn_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    withdrawn_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    completed_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    completed_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reassigned_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    reassigned_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reassign_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # Deadlines: reminders sent to the receiving center, and the association's flag.
    reminded_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    reminder_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    flagged_at: Mapped[datetime | None] = mapped_column(AwareDateTime)

    @property
    def number(self) -> str | None:
        """広域-R8-0012, the same on both sides (``lifecycle.transfer_number``)."""
        return lc.transfer_number(self.number_fiscal_year, self.number_seq)

    @property
    def answered_at(self) -> datetime | None:
        return self.accepted_at or self.declined_at


class TransferMessage(TenantOwned, db.Model):
    """One message of a transfer's thread, one copy per side (``pair_id`` joins the two copies)."""

    __tablename__ = "transfer_messages"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "transfer_id"], ["transfers.center_id", "transfers.id"],
                             name="fk_transfer_messages_center_id_transfer_id_transfers"),
        CheckConstraint("length(body) > 0", name="body"),
        CheckConstraint(f"kind IN {sql_in(MESSAGE_KINDS)}", name="kind"),
        Index("ix_transfer_messages_center_transfer", "center_id", "transfer_id", "created_at"),
    )

    transfer_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    group_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    pair_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    author_center_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("centers.id"), nullable=False)
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    author_name: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    # 'message', or 'shared_update': an update the sending center shared after acceptance (it is
    # also copied into the receiving case as a progress note).
    kind: Mapped[str] = mapped_column(String(20), default="message", server_default="message", nullable=False)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow, nullable=False)


class TransferMessageAttachment(TenantOwned, db.Model):
    """A file attached to a message of the thread (添付ファイル), one copy per side.

    Each center owns its copy of the bytes (``<UPLOAD_ROOT>/<center_id>/<id>``, the case
    documents' storage) and its row; ``pair_id`` joins the two copies.  Rows are only ever added.
    """

    __tablename__ = "transfer_message_attachments"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "message_id"], ["transfer_messages.center_id", "transfer_messages.id"],
                             name="fk_transfer_msg_attachments_message"),
        ForeignKeyConstraint(["center_id", "transfer_id"], ["transfers.center_id", "transfers.id"],
                             name="fk_transfer_msg_attachments_transfer"),
        CheckConstraint("size_bytes > 0", name="size"),
        Index("ix_transfer_msg_attachments_message", "center_id", "message_id"),
    )

    transfer_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    pair_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)  # sanitized, shown only
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)  # detected from the bytes
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # a user of the author center
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow, nullable=False)


class ProvisionRecord(TenantOwned, db.Model):
    """第三者提供記録 (APPI art. 29): one provision of a person's data to another center.

    A transfer's provision is kept in the sending center and written when the request is actually
    sent (not while it awaits the head's approval); a pull request's (開始依頼: the identity the
    destination center sends the facility's center) in the asking center, when the pull is sent.
    Never changed or deleted by the application (kept at least 3 years).
    """

    __tablename__ = "provision_records"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "person_id"], ["persons.center_id", "persons.id"],
                             name="fk_provision_records_center_id_person_id_persons"),
        ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"],
                             name="fk_provision_records_center_id_case_id_cases"),
        ForeignKeyConstraint(["center_id", "transfer_id"], ["transfers.center_id", "transfers.id"],
                             name="fk_provision_records_center_id_transfer_id_transfers"),
        ForeignKeyConstraint(["center_id", "pull_id"], ["transfer_pulls.center_id", "transfer_pulls.id"],
                             name="fk_provision_records_center_id_pull_id_transfer_pulls"),
        # A provision belongs to exactly one transfer or one pull request.
        CheckConstraint("(transfer_id IS NULL) <> (pull_id IS NULL)", name="one_source"),
        CheckConstraint(f"consent_method IN {sql_in(CONSENT_METHODS)}", name="consent_method"),
        CheckConstraint(f"basis IN {sql_in(PROVISION_BASES)}", name="basis"),
        CheckConstraint("retain_until >= provided_on", name="retention"),
        Index("ix_provision_records_center_provided", "center_id", "provided_on", "created_at"),
    )

    provided_on: Mapped[date] = mapped_column(Date, nullable=False)
    recipient_center_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("centers.id"), nullable=False)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # a transfer's provision (sending center)...
    pull_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # ...or a pull request's (the asking center)
    items: Mapped[list] = mapped_column(JSON, nullable=False)  # [{"kind", "label"}]; identity always first
    consent_obtained_on: Mapped[date] = mapped_column(Date, nullable=False)
    consent_method: Mapped[str] = mapped_column(String(20), nullable=False)
    consent_witness: Mapped[str | None] = mapped_column(String(100))
    consent_scope: Mapped[str | None] = mapped_column(Text)
    basis: Mapped[str] = mapped_column(String(32), nullable=False)  # lifecycle.PROVISION_BASES
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    retain_until: Mapped[date] = mapped_column(Date, nullable=False)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow, nullable=False)


class TransferPull(SideRow, db.Model):
    """One side of a pull request (広域調整の開始依頼).

    The center where the person will live (帰住予定地, ``side = 'asking'``) asks the facility's
    center (施設所在地, ``side = 'asked'``) to start a transfer.  The two rows share ``group_id``
    and each lives in its own center, like a transfer's; ``pulls`` touches the other side only
    inside ``tenancy.cross_tenant(...)``.  The asking row keeps the asking center's case; the asked
    row carries the minimum identity the asked center needs to find the person
    (``person_snapshot``: ``lifecycle.PULL_IDENTITY_FIELDS``) and, once confirmed, the asked
    center's case the transfer was started from.  ``transfer_group_id`` names the transfer that
    confirmed the pull (each center finds its own side of it).
    """

    __tablename__ = "transfer_pulls"
    __table_args__ = (
        *side_constraints("transfer_pulls", sides=PULL_SIDES, statuses=PULL_STATUSES, open_statuses=PULL_OPEN_STATUSES),
        CheckConstraint("side = 'asked' OR case_id IS NOT NULL", name="asking_has_case"),
        CheckConstraint("status <> 'confirmed' OR (transfer_group_id IS NOT NULL AND confirmed_at IS NOT NULL)",
                        name="confirmed_has_transfer"),
        CheckConstraint("status <> 'refused' OR (refused_at IS NOT NULL AND coalesce(refuse_comment, '') <> '')",
                        name="refused_has_comment"),
        CheckConstraint("status <> 'cancelled' OR cancelled_at IS NOT NULL", name="cancelled_has_time"),
    )
    SIDES, STATUS_LENGTH, OBJECT_TYPE = lc.PULL_SIDES, 12, "transfer_pull"
    OPEN_STATUSES, ACTOR_SIDE = lc.PULL_OPEN_STATUSES, lc.PULL_ACTOR_SIDE
    IDENTITY_HOLDER, NOT_TAKEN_ON_STATUSES = "asked", lc.PULL_NOT_TAKEN_ON_STATUSES

    # Both sides: the facility, if known (the release date is the shared column).
    facility_name: Mapped[str | None] = mapped_column(String(100))
    refuse_comment: Mapped[str | None] = mapped_column(Text)
    transfer_group_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    confirmed_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    confirmed_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    refused_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    refused_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    cancelled_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    cancelled_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
