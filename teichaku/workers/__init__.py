"""Background work: RQ jobs, the worker class and the periodic schedule.

Jobs take ids only (never personal data), use RQ's JSON serializer, and run inside an app
context built once per worker process; the database engine is disposed in each forked work
horse so no connection is shared across a fork.
"""
