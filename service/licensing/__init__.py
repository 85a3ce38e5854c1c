"""Licensing service: dedicated license pools per organization."""

__version__ = "0.1.0"
