"""The SQL schema, as SQLAlchemy Core tables (the migrations create the same)."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)

ID = String(128)
ACCOUNT_LEVEL = ""
"""How the account level is stored where a level id is expected."""

metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", ID, primary_key=True),
    Column("sequence", BigInteger, nullable=False, default=0),
    Column(
        "created_at", DateTime(timezone=True), nullable=False, server_default=func.now()
    ),
)

account_admins = Table(
    "account_admins",
    metadata,
    Column("account_id", ID, primary_key=True),
    Column("user_id", ID, primary_key=True),
)

organizations = Table(
    "organizations",
    metadata,
    Column("account_id", ID, primary_key=True),
    Column("organization_id", ID, primary_key=True),
    Column("parent_id", ID, nullable=True),
    Column("name", String(200), nullable=False),
    Column("depth", Integer, nullable=False),
    Column("children", Integer, nullable=False, default=0),
    CheckConstraint("children >= 0", name="children_not_negative"),
    Index(None, "account_id", "parent_id"),
)

allocations = Table(
    "allocations",
    metadata,
    Column("account_id", ID, primary_key=True),
    Column("level_id", ID, primary_key=True),
    Column("product", ID, primary_key=True),
    Column("dedicated", BigInteger, nullable=True),
    Column("handed", BigInteger, nullable=False, default=0),
    Column("drawn", BigInteger, nullable=False, default=0),
    CheckConstraint("handed >= 0 AND drawn >= 0", name="counters_not_negative"),
    # The invariant itself: no funded level hands out more than it was given.
    CheckConstraint(
        "dedicated IS NULL OR dedicated >= handed + drawn", name="within_dedicated"
    ),
)

claims = Table(
    "claims",
    metadata,
    Column("account_id", ID, primary_key=True),
    Column("product", ID, primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("level_id", ID, nullable=False),
)

processed_commands = Table(
    "processed_commands",
    metadata,
    Column("account_id", ID, primary_key=True),
    Column("command_id", ID, primary_key=True),
    Column("body_hash", String(64), nullable=False),
    Column("outcome", Text, nullable=False),
    Column(
        "processed_at",
        DateTime(timezone=True),
        nullable=False,
        server_default=func.now(),
    ),
)

events = Table(
    "events",
    metadata,
    Column("account_id", ID, primary_key=True),
    Column("sequence", BigInteger, primary_key=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(32), nullable=False),
    Column("product", ID, nullable=True),
    Column("payload", Text, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("partition", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target", String(256), nullable=False),
    Column("correlation_id", String(256), nullable=True),
    Column("payload", Text, nullable=False),
    Column(
        "created_at", DateTime(timezone=True), nullable=False, server_default=func.now()
    ),
    Index(None, "partition", "id"),
)

partitions = Table(
    "partitions",
    metadata,
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False),
    Column("owner", String(256), nullable=False),
    Column(
        "taken_at", DateTime(timezone=True), nullable=False, server_default=func.now()
    ),
)
