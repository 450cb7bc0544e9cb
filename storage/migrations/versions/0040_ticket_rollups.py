"""Ticket roll-ups: the ticket report over a quarter or a year reads days, not tickets.

- `ticket_day_counts`: per UTC day of opening and per dimension value (category, channel,
  priority, rule, assignee), the counts every ticket figure needs, each settled (nothing in it
  depends on the time the report is read: an unanswered ticket past due is counted live).
- `ticket_time_days`: per UTC day, per kept time (first reply and resolution, wall clock and
  working; the working first reply per assignee) and per bucket of `ticket_time_bounds`, how
  many tickets and the sum of their times. A percentile is found in the buckets, then read
  exactly from the tickets on an index of that time (one bucket's rows at most).

Database triggers keep both right on every insert, update and delete of a ticket, whoever
writes it (the app, an import, a merge), in the writing transaction: two writers of one day's
row queue on its lock. Merged tickets count in their target only, as in the report.

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, value expression of a ticket row R)
DIMENSIONS = (
    ("category", "coalesce(R.category, '')"),
    ("channel", "coalesce(R.channel, '')"),
    ("priority", "coalesce(R.priority, '')"),
    ("rule", "coalesce(CAST(R.matched_rule_id AS TEXT), '')"),
    ("assignee", "coalesce(R.assignee_name, '')"),
)
# (column, condition on R) of every count, in the table's order
COUNTS = (
    ("tickets", "TRUE"),
    ("answered", "R.first_response_at IS NOT NULL"),
    ("resolved", "R.resolved_at IS NOT NULL"),
    ("answered_due", "R.due_at IS NOT NULL AND R.first_response_at IS NOT NULL"),
    ("on_time", "R.due_at IS NOT NULL AND R.first_response_at <= R.due_at"),
    ("late_answer", "R.due_at IS NOT NULL AND R.first_response_at > R.due_at"),
    ("resolved_ever", "R.resolved_at IS NOT NULL OR R.reopens > 0"),
    ("reopened", "R.reopens > 0"),
    ("rated", "R.csat_score IS NOT NULL"),
    ("satisfied", "R.csat_score >= 4"),
    (
        "unmeasured",
        "(R.first_response_at IS NOT NULL AND R.first_response_seconds IS NULL)"
        " OR (R.resolved_at IS NOT NULL AND R.resolution_seconds IS NULL)",
    ),
)
# (metric, its column, the column kept with it, assignee expression)
TIMES = (
    ("first_wall", "first_response_seconds", "first_response_work_seconds", "''"),
    (
        "first_work",
        "first_response_work_seconds",
        "first_response_seconds",
        "coalesce(R.assignee_name, '')",
    ),
    ("resolve_wall", "resolution_seconds", "resolution_work_seconds", "''"),
    ("resolve_work", "resolution_work_seconds", "resolution_seconds", "''"),
)
# What a ticket's contribution depends on: an update of anything else changes nothing here.
WATCHED = (
    "created_at",
    "merged_into_id",
    "category",
    "channel",
    "priority",
    "matched_rule_id",
    "assignee_name",
    "due_at",
    "first_response_at",
    "resolved_at",
    "reopens",
    "csat_score",
    "first_response_seconds",
    "first_response_work_seconds",
    "resolution_seconds",
    "resolution_work_seconds",
)


def bounds() -> list[float]:
    """Bucket lower bounds in seconds: below zero, zero (a reply outside working hours takes
    none of them: often most of a working-time column), under a second, each second up to
    8 s, then a quarter wider each (rounded), past ten years: 89 buckets."""
    found = [-1e15, 0.0, 0.001]
    value = 1.0
    while value < 4e8:
        found.append(value)
        value = max(value + 1, round(value * 1.25))
    return found


def _day(dialect: str) -> str:
    if dialect == "postgresql":
        return "(R.created_at AT TIME ZONE 'UTC')::date"
    return "substr(R.created_at, 1, 10)"  # stored as "YYYY-MM-DD HH:MM:SS.ffffff", UTC


def _bucket(column: str) -> str:
    return (
        f"(SELECT b.bucket FROM ticket_time_bounds b WHERE b.lo <= R.{column}"
        " ORDER BY b.lo DESC LIMIT 1)"
    )


def _count_sets() -> str:
    return ", ".join(f"{name} = ticket_day_counts.{name} + excluded.{name}" for name, _ in COUNTS)


def statements(dialect: str, rows: Sequence[tuple[str, int]]) -> list[str]:
    """Two upserts that take away (sign -1) or add (sign 1) the contribution of each ticket
    row (OLD, NEW) given. Each is one statement touching its rows in key order: two
    transactions changing one ticket each lock shared rows in the same order, never in a
    circle, and a row both take away from and add to is written once."""
    counts, times = [], []
    for row, sign in rows:
        for dimension, value in DIMENSIONS:
            parts = ", ".join(
                f"CASE WHEN {cond} THEN {sign} ELSE 0 END AS {name}" for name, cond in COUNTS
            )
            counts.append(
                f"SELECT {_day(dialect)} AS day, '{dimension}' AS dimension, "
                f"CAST({value} AS VARCHAR(128)) AS value, {parts} "
                f"WHERE {row}.merged_into_id IS NULL".replace("R.", f"{row}.")
            )
        for metric, column, kept_with, assignee in TIMES:
            times.append(
                f"SELECT {_day(dialect)} AS day, '{metric}' AS metric, "
                f"CAST({assignee} AS VARCHAR(128)) AS assignee, {_bucket(column)} AS bucket, "
                f"{sign} AS n, {sign} * R.{column} AS total "
                f"WHERE R.merged_into_id IS NULL AND R.{column} IS NOT NULL "
                f"AND R.{kept_with} IS NOT NULL".replace("R.", f"{row}.")
            )
    names = ", ".join(n for n, _ in COUNTS)
    sums = ", ".join(f"sum({n})" for n, _ in COUNTS)
    return [
        f"INSERT INTO ticket_day_counts (day, dimension, value, {names}) "
        f"SELECT day, dimension, value, {sums} FROM ({' UNION ALL '.join(counts)}) AS delta "
        "WHERE TRUE GROUP BY day, dimension, value ORDER BY day, dimension, value "
        f"ON CONFLICT (day, dimension, value) DO UPDATE SET {_count_sets()}",
        "INSERT INTO ticket_time_days (day, metric, assignee, bucket, n, total) "
        f"SELECT day, metric, assignee, bucket, sum(n), sum(total) "
        f"FROM ({' UNION ALL '.join(times)}) AS delta "
        "WHERE TRUE GROUP BY day, metric, assignee, bucket "
        "ORDER BY day, metric, assignee, bucket "
        "ON CONFLICT (day, metric, assignee, bucket) DO UPDATE SET "
        "n = ticket_time_days.n + excluded.n, "
        "total = ticket_time_days.total + excluded.total",
    ]


def _changed(old: str, new: str, dialect: str) -> str:
    differs = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    return " OR ".join(f"{old}.{c} {differs} {new}.{c}" for c in WATCHED)


def _triggers(dialect: str) -> list[str]:
    if dialect == "postgresql":
        body = "\n".join(
            [
                "BEGIN",
                "IF TG_OP = 'UPDATE' AND NOT (" + _changed("OLD", "NEW", dialect) + ") THEN",
                "  RETURN NULL;",
                "END IF;",
                "IF TG_OP = 'INSERT' THEN",
                *(f"  {s};" for s in statements(dialect, [("NEW", 1)])),
                "ELSIF TG_OP = 'DELETE' THEN",
                *(f"  {s};" for s in statements(dialect, [("OLD", -1)])),
                "ELSE",
                *(f"  {s};" for s in statements(dialect, [("OLD", -1), ("NEW", 1)])),
                "END IF;",
                "RETURN NULL;",
                "END;",
            ]
        )
        return [
            "CREATE FUNCTION otklik_ticket_rollups() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            + body
            + "\n$$",
            "CREATE TRIGGER tickets_rollups AFTER INSERT OR UPDATE OR DELETE ON tickets "
            "FOR EACH ROW EXECUTE FUNCTION otklik_ticket_rollups()",
        ]

    def trigger(name: str, when: str, parts: list[str]) -> str:
        return f"CREATE TRIGGER {name} {when} BEGIN {'; '.join(parts)}; END"

    return [
        trigger(
            "tickets_rollups_insert", "AFTER INSERT ON tickets", statements(dialect, [("NEW", 1)])
        ),
        trigger(
            "tickets_rollups_delete", "AFTER DELETE ON tickets", statements(dialect, [("OLD", -1)])
        ),
        trigger(
            "tickets_rollups_update",
            f"AFTER UPDATE ON tickets WHEN {_changed('OLD', 'NEW', dialect)}",
            statements(dialect, [("OLD", -1), ("NEW", 1)]),
        ),
    ]


def _backfill(dialect: str) -> list[str]:
    """The roll-ups of the tickets already stored, grouped in SQL."""
    found = []
    for dimension, value in DIMENSIONS:
        sums = ", ".join(f"sum(CASE WHEN {cond} THEN 1 ELSE 0 END)" for _, cond in COUNTS)
        found.append(
            f"INSERT INTO ticket_day_counts (day, dimension, value, "
            f"{', '.join(n for n, _ in COUNTS)}) "
            f"SELECT {_day(dialect)}, '{dimension}', {value}, {sums} FROM tickets R "
            f"WHERE R.merged_into_id IS NULL GROUP BY 1, 3"
        )
    for metric, column, kept_with, assignee in TIMES:
        found.append(
            "INSERT INTO ticket_time_days (day, metric, assignee, bucket, n, total) "
            f"SELECT day, '{metric}', assignee, bucket, count(*), sum(t) FROM ("
            f"SELECT {_day(dialect)} AS day, {assignee} AS assignee, "
            f"{_bucket(column)} AS bucket, R.{column} AS t FROM tickets R "
            f"WHERE R.merged_into_id IS NULL AND R.{column} IS NOT NULL "
            f"AND R.{kept_with} IS NOT NULL) times GROUP BY day, assignee, bucket"
        )
    return found


INDEXED_TIMES = (  # (index, columns): a time first, then what its reads filter on
    (
        "ix_tickets_first_wall",
        ["first_response_seconds", "created_at", "first_response_work_seconds"],
    ),
    (
        "ix_tickets_first_work",
        ["first_response_work_seconds", "created_at", "assignee_name", "first_response_seconds"],
    ),
    ("ix_tickets_resolve_wall", ["resolution_seconds", "created_at", "resolution_work_seconds"]),
    ("ix_tickets_resolve_work", ["resolution_work_seconds", "created_at", "resolution_seconds"]),
)
UNMERGED = "merged_into_id IS NULL"
UNANSWERED = "first_response_at IS NULL AND merged_into_id IS NULL"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "ticket_day_counts",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(128), primary_key=True),
        *(sa.Column(name, sa.Integer(), nullable=False, server_default="0") for name, _ in COUNTS),
    )
    op.create_table(
        "ticket_time_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("metric", sa.String(16), primary_key=True),
        sa.Column("assignee", sa.String(128), primary_key=True),
        sa.Column("bucket", sa.Integer(), primary_key=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
    )
    op.create_table(
        "ticket_time_bounds",
        sa.Column("bucket", sa.Integer(), primary_key=True),
        sa.Column("lo", sa.Float(), nullable=False, unique=True),
    )
    # Constants, written as literals: a statement without parameters is one the tests can
    # record once and replay for every test's schema (tests/conftest.py, _pg_at_head).
    rows = ", ".join(f"({i}, {float(lo)!r})" for i, lo in enumerate(bounds()))
    op.execute(f"INSERT INTO ticket_time_bounds (bucket, lo) VALUES {rows}")
    for name, columns in INDEXED_TIMES:
        op.create_index(
            name,
            "tickets",
            columns,
            postgresql_where=sa.text(UNMERGED),
            sqlite_where=sa.text(UNMERGED),
        )
    op.create_index(
        "ix_tickets_unanswered",
        "tickets",
        ["created_at", "due_at"],
        postgresql_where=sa.text(UNANSWERED),
        sqlite_where=sa.text(UNANSWERED),
    )
    for statement in _backfill(dialect) + _triggers(dialect):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER tickets_rollups ON tickets")
        op.execute("DROP FUNCTION otklik_ticket_rollups()")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER tickets_rollups_{name}")
    op.drop_index("ix_tickets_unanswered", "tickets")
    for name, _ in INDEXED_TIMES:
        op.drop_index(name, "tickets")
    op.drop_table("ticket_time_bounds")
    op.drop_table("ticket_time_days")
    op.drop_table("ticket_day_counts")
