"""Fault tests: real worker processes under load while workers die, stall,
stop, lose their links or find Redis emptied, and entries keep failing.

They judge only what the service published on the streams and stored in the
database, against a replay of the commands through the pure domain
(``history.check_history``). Run them alone with ``pytest -m faults``; they
need Redis and PostgreSQL, as the rest of the suite does.
"""
