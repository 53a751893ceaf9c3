"""受託法人の変更 (center handover): moving a center to a new operator.

Two ways, both run by the platform operator:

* **Between installations** (``centers export`` / ``centers import``): everything the center owns
  leaves as one encrypted, signed archive and is loaded into another installation (or into a
  fresh, empty center of the same code).  ``tables`` decides what "everything" is, generically:
  every table of the SQLAlchemy metadata with a ``center_id`` column, minus a short, documented
  exclusion list; ``rows`` encodes each value type-faithfully; ``archive`` is the file format;
  ``export`` and ``import_`` read and write the rows as the application role inside the center's
  own tenant scope, so row-level security (not only a ``WHERE``) keeps every other center out.
* **Inside one installation** (``centers handover``, and the platform admin's page): no data
  moves; the old operator's accounts are deactivated at once, the operator change is recorded
  and the new center admin is invited with a one-time set-password link (``services``,
  ``invitations``).

Threat model of the archive: operator A hands it to operator B over an untrusted channel
(e-mail, a courier's USB stick, a file share).  Whoever holds the file must not read it without
the passphrase (AES-256-GCM under a scrypt-derived key); B must detect any change to it, and
must be sure it comes from A and not from someone who merely learnt the passphrase (an Ed25519
signature checked with A's public key, obtained from A out of band); and A's own staff, even
holding the signing key, must not be able to slip in rows for another center (the importer
refuses any row whose center is not the archive's, and writes under row-level security scoped
to that one center).
"""
