"""Stream names and the account-to-partition function."""

import zlib
from dataclasses import dataclass

DATA_FIELD = "__data__"


def partition_of(account_id: str, partitions: int) -> int:
    """The command partition of an account: crc32 of its UTF-8 id, mod partitions."""
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    return zlib.crc32(account_id.encode("utf-8")) % partitions


@dataclass(frozen=True)
class Streams:
    """The stream names of one deployment."""

    prefix: str = "licensing"
    partitions: int = 1

    def commands(self, partition: int) -> str:
        return f"{self.prefix}.commands.{partition}"

    def commands_of(self, account_id: str) -> str:
        return self.commands(partition_of(account_id, self.partitions))

    @property
    def all_commands(self) -> list[str]:
        return [self.commands(n) for n in range(self.partitions)]

    @property
    def outcomes(self) -> str:
        return f"{self.prefix}.outcomes"

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}.dead-letters"
