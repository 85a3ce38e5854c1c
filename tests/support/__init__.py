"""Shared test support: the backing services, and the worker as a real process."""
