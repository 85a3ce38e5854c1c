"""Fresh, migrated databases for tests: copies of a template, never shared."""

import asyncio
import shutil
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from licensing.adapters.migrate import upgrade


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


class PostgresDatabases:
    """Databases named after this run, each a copy of one migrated template."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.run = uuid.uuid4().hex[:8]
        self.template = f"licensing_test_{self.run}_template"
        self.created: list[str] = []

    def setup(self) -> None:
        asyncio.run(_admin(self.server_url, f'CREATE DATABASE "{self.template}"'))
        self.created.append(self.template)
        upgrade(_with_database(self.server_url, self.template))

    def fresh(self) -> str:
        name = f"licensing_test_{self.run}_{len(self.created)}"
        asyncio.run(
            _admin(
                self.server_url,
                f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"',
            )
        )
        self.created.append(name)
        return _with_database(self.server_url, name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        asyncio.run(
            _admin(self.server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )

    def teardown(self) -> None:
        statements = [
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            for name in reversed(self.created)
        ]
        asyncio.run(_admin(self.server_url, *statements))


class SqliteDatabases:
    """SQLite files copied from one migrated template file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.template = folder / "template.sqlite3"
        self.count = 0

    def setup(self) -> None:
        upgrade(f"sqlite:///{self.template}")

    def fresh(self) -> str:
        self.count += 1
        path = self.folder / f"test-{self.count}.sqlite3"
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
