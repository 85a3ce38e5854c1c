"""``licensing bench``: load the worker as it runs in production and measure it.

Real ``licensing worker`` processes consume a private stream prefix and a
database created for the run (dropped afterwards); a load generator in this
process sends commands over Redis and reads their outcomes back, timing each
one from the moment it was sent.
"""
