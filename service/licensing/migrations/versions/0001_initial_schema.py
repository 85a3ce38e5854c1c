"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_admins",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "user_id", name=op.f("pk_account_admins")
        ),
    )
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "allocations",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("level_id", sa.String(length=128), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("dedicated", sa.BigInteger(), nullable=True),
        sa.Column("handed", sa.BigInteger(), nullable=False),
        sa.Column("drawn", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "dedicated IS NULL OR dedicated >= handed + drawn",
            name=op.f("ck_allocations_within_dedicated"),
        ),
        sa.CheckConstraint(
            "handed >= 0 AND drawn >= 0",
            name=op.f("ck_allocations_counters_not_negative"),
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "level_id", "product", name=op.f("pk_allocations")
        ),
    )
    op.create_table(
        "claims",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("level_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "product", "user_id", name=op.f("pk_claims")
        ),
    )
    op.create_table(
        "events",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "sequence", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
    )
    op.create_table(
        "organizations",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("organization_id", sa.String(length=128), nullable=False),
        sa.Column("parent_id", sa.String(length=128), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("children", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "children >= 0", name=op.f("ck_organizations_children_not_negative")
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "organization_id", name=op.f("pk_organizations")
        ),
    )
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organizations_account_id_parent_id"),
            ["account_id", "parent_id"],
            unique=False,
        )

    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("correlation_id", sa.String(length=256), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_partition_id"), ["partition", "id"], unique=False
        )

    op.create_table(
        "partitions",
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=256), nullable=False),
        sa.Column(
            "taken_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("partition", name=op.f("pk_partitions")),
    )
    op.create_table(
        "processed_commands",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("command_id", sa.String(length=128), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "command_id", name=op.f("pk_processed_commands")
        ),
    )


def downgrade() -> None:
    op.drop_table("processed_commands")
    op.drop_table("partitions")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_partition_id"))

    op.drop_table("outbox")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organizations_account_id_parent_id"))

    op.drop_table("organizations")
    op.drop_table("events")
    op.drop_table("claims")
    op.drop_table("allocations")
    op.drop_table("accounts")
    op.drop_table("account_admins")
