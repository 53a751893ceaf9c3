"""事例の共有 (case-study exchange): anonymised good-practice write-ups shared between the 48 centers.

The only way to write, check, resolve, publish, correct, hide, read, question and mark a case
study; pages, the API and the CLI all call these modules, one per family of verbs:

* ``scope``: who works where (the author scope, ``exchange_scope``), the capability each step
  needs, who wrote a study and how its author is notified.
* ``findings``: the PII findings saved on a draft: the check, findings following their text
  through edits, the author's replacement or dismissal.
* ``authoring``: the author's workflow: create, edit, publish (approved by the center head) and
  correct a study.
* ``library``: who reads which study and version, the search, a study as it is shown.
* ``moderation``: the association hides a study or withdraws a version.
* ``feedback``: questions to the author and 参考になった.
* ``lifecycle`` (statuses, fields, tags, limits), ``models``, ``schemas``, ``pii`` (the
  detector), ``search`` (the index and the visibility rule), ``examples`` (the initial studies).

Cross-tenant steps (routing a question to a hidden author, writing the other side's copy of a
message, the association hiding a study) run inside ``tenancy.cross_tenant("exchange.<verb>")``,
which is audited.  Services flush and audit (``platform.audit.services.record``); the view,
command or job owns the transaction.  They raise ``ValidationFailed`` (422),
``authoring.UnresolvedFindings`` (422), ``VersionConflict`` (409), ``InvalidState`` (409),
``scope.NotAllowed`` (403) and ``werkzeug.exceptions.NotFound`` (a draft, finding, study or case
that is not the caller's to see).
"""
