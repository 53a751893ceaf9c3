"""National aggregates (issue 6): counts of case work across centers, for the association, the
ministry, prefectures and each center's own head.

``disclosure`` is the one place where small counts are suppressed: it is pure Python (no Flask,
no database), takes one fiscal year's counts and returns tables that are already suppressed, so
pages, charts, the API, CSV and XLSX can only ever show what it lets through.
"""
