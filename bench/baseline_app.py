"""The bare stack the signup bench compares Tend with: Flask + SQLAlchemy + PostgreSQL.

`POST /api/subscribe` reads the JSON body and inserts one row with SQLAlchemy, nothing
else: no validation, no consent record, no queue. Served by gunicorn with the same
settings as Tend (`gunicorn --chdir bench baseline_app:app`). `python baseline_app.py`
makes its table (the bench does that once, before the server starts).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from flask import Flask, jsonify, request
from sqlalchemy import DateTime, Integer, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Signup(Base):
    __tablename__ = "bench_baseline_signups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)

app = Flask(__name__)


@app.post("/api/subscribe")
def subscribe():
    data = request.get_json(silent=True) or {}
    with Session(engine) as session, session.begin():
        session.add(
            Signup(
                name=str(data.get("name", ""))[:100],
                email=str(data.get("email", ""))[:320],
                created_at=datetime.now(UTC).replace(tzinfo=None),
            )
        )
    return jsonify(status="ok"), 202


if __name__ == "__main__":
    Base.metadata.create_all(engine)
