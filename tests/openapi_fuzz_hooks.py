"""Schemathesis hooks of ``tests/test_openapi_fuzz.py`` (loaded by ``st run`` through SCHEMATHESIS_HOOKS).

Not a test module.  One hook:

- Known ids: a path parameter is, half of the time, the id of a real record the caller may
  reach (``TEICHAKU_FUZZ_IDS``, a JSON object ``{"case_id": [...], ...}`` the test writes), so
  the success answers are checked against their schemas too, not only the 404s of random ids.
- Nothing is filtered: inputs outside the contract's ranges (NUL characters, unpaired
  surrogates, far dates, huge numbers) are sent like any other and must answer 4xx
  (``platform/input_ranges.py``).
"""
from __future__ import annotations

import json
import os

import schemathesis
from hypothesis import strategies as st

KNOWN_IDS: dict[str, list[str]] = json.loads(os.environ.get("TEICHAKU_FUZZ_IDS") or "{}")

@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    choices = {}
    for name, value in (path_parameters or {}).items():
        known = KNOWN_IDS.get(name)
        choices[name] = st.sampled_from([value, *known]) if known else st.just(value)
    return st.fixed_dictionaries(choices)
