#!/usr/bin/env bash
# Re-extract the Japanese msgids (templates and Python) and merge them into every catalog.
# New strings arrive with an empty msgstr: translate them (tests/test_i18n.py fails until done).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
DIR=teichaku/translations

"$PYBABEL" -q extract -F babel.cfg -k _l -k lazy_gettext -k N_ --project=Teichaku -o "$DIR/messages.pot" .
"$PYBABEL" -q update -i "$DIR/messages.pot" -d "$DIR" -D messages --no-fuzzy-matching --ignore-obsolete
"$PYBABEL" -q compile -d "$DIR"
