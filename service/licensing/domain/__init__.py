"""The licensing rules: plain Python, no I/O."""

from .handlers import handle
from .model import DEFAULT_MAX_DEPTH, Account, Allocation, DomainEvent, Organization
from .refusals import Refused

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "Account",
    "Allocation",
    "DomainEvent",
    "Organization",
    "Refused",
    "handle",
]
