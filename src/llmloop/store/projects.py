"""Projects: the tenant every other row belongs to."""

from __future__ import annotations

from sqlalchemy import Column, String, Table, Text, func, select
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from llmloop.errors import ConflictError, NotFoundError
from llmloop.records import Project, new_id, utcnow
from llmloop.store.database import Database
from llmloop.store.schema import UtcDateTime, metadata

projects = Table(
    "projects",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
)


def _to_project(row: RowMapping) -> Project:
    return Project(
        id=row["id"], name=row["name"], description=row["description"], created_at=row["created_at"]
    )


class ProjectRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, name: str, description: str = "", *, conn: Connection | None = None
    ) -> Project:
        project = Project(id=new_id("prj"), name=name, description=description, created_at=utcnow())
        try:
            with self.db.begin(conn) as c:
                c.execute(projects.insert().values(**project.model_dump()))
        except IntegrityError:
            raise ConflictError(f"project {name!r} already exists") from None
        return project

    def get(self, project_id: str) -> Project:
        with self.db.connect() as c:
            row = c.execute(select(projects).where(projects.c.id == project_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"project {project_id!r} not found")
        return _to_project(row)

    def get_by_name(self, name: str) -> Project:
        with self.db.connect() as c:
            row = c.execute(select(projects).where(projects.c.name == name)).mappings().first()
        if row is None:
            raise NotFoundError(
                f"project {name!r} not found; list them with `llmloop projects list`"
            )
        return _to_project(row)

    def find(self, name_or_id: str) -> Project:
        if name_or_id.startswith("prj_"):
            return self.get(name_or_id)
        return self.get_by_name(name_or_id)

    def list(self, ids: list[str] | None = None) -> list[Project]:
        query = select(projects).order_by(projects.c.created_at, projects.c.name)
        if ids is not None:
            query = query.where(projects.c.id.in_(ids))
        with self.db.connect() as c:
            return [_to_project(r) for r in c.execute(query).mappings()]

    def count(self) -> int:
        with self.db.connect() as c:
            return int(c.execute(select(func.count()).select_from(projects)).scalar_one())
