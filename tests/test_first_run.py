"""An operator's first day: `make run` from a fresh clone with the README's own `.env`
lines, `.env` read alike by every process, and the web's logs as JSON lines."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from support import ROOT, free_port, procfile_web_command

from settings.local import ready

# What a newcomer adds to .env before the first `make run`, quoted as the README writes it.
README_LINES = """\
ADMIN_PASSWORD='a long local password'
COACH_NAME='Career Notes'
POSTAL_ADDRESS='12 Garden Lane, Springfield, IL 62701'
"""
TEND_VARIABLES = ("SECRET_KEY", "FLASK_DEBUG", "FLASK_SKIP_DOTENV", "DATABASE_URL", "PORT")


def test_local_env_adds_the_secret_and_debug_and_never_overwrites(tmp_path):
    env = tmp_path / ".env"
    env.write_text("PORT=5001\nPUBLIC_BASE_URL=http://localhost:5001")  # no final newline
    assert ready(env) == ["SECRET_KEY", "FLASK_DEBUG"]
    lines = env.read_text().splitlines()
    assert lines[:2] == ["PORT=5001", "PUBLIC_BASE_URL=http://localhost:5001"]
    assert re.fullmatch(r"SECRET_KEY=[0-9a-f]{64}", lines[2]) and lines[3] == "FLASK_DEBUG=1"
    before = env.read_text()
    assert ready(env) == [] and env.read_text() == before  # a second run changes nothing
    mine = tmp_path / "mine.env"
    mine.write_text("SECRET_KEY='my own key'\nFLASK_DEBUG=0\n")
    assert ready(mine) == [] and mine.read_text() == "SECRET_KEY='my own key'\nFLASK_DEBUG=0\n"


def _open(opener, url: str, data: dict | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with opener.open(url, data=body, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _wait(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _up(url: str):
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except (OSError, urllib.error.URLError):
        return False


@pytest.mark.slow
def test_make_run_from_a_fresh_clone_with_the_readmes_env_lines(tmp_path):
    running = (ROOT / "docs" / "running.md").read_text()
    assert "ADMIN_PASSWORD='a long local password'" in running  # the docs' own line
    clone = tmp_path / "tend"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    port = free_port()
    base = f"http://localhost:{port}"
    (clone / ".env").write_text(
        f"PORT={port}\nPUBLIC_BASE_URL={base}\n"  # the port first, as "Another port" says
        + README_LINES
        + f"REDIS_URL=redis://127.0.0.1:6379/14\nRQ_QUEUE=tend-first-run-{uuid.uuid4().hex[:8]}\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in TEND_VARIABLES}
    venv = (ROOT / ".venv").resolve()
    run = subprocess.Popen(
        ["make", "run", f"VENV={venv}", f"PYTHON={sys.executable}"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait(lambda: _up(f"http://127.0.0.1:{port}/healthz"), 240, "the web process")
        _journey(clone, port)
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    written = (clone / ".env").read_text()
    assert README_LINES in written and "\nFLASK_DEBUG=1\n" in written
    assert re.search(r"^SECRET_KEY=[0-9a-f]{64}$", written, re.M)


def _journey(clone: Path, port: int) -> None:
    site = f"http://127.0.0.1:{port}"
    admin = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    status, page = _open(admin, f"{site}/admin/login")
    assert status == 200
    status, page = _open(
        admin,
        f"{site}/admin/login",
        {"csrf_token": _csrf(page), "password": "a long local password"},
    )
    assert status == 200 and "That password is not right." not in page  # on /admin/ now
    assert _open(admin, f"{site}/admin/")[0] == 200

    reader = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    status, page = _open(reader, f"{site}/signup")
    time.sleep(2.2)  # the hosted form's time trap (SIGNUP_MIN_SECONDS)
    status, page = _open(
        reader,
        f"{site}/signup",
        {"csrf_token": _csrf(page), "name": "Ann Reader", "email": "ann@example.com"},
    )
    assert status == 200 and "Something went wrong" not in page
    outbox = clone / "instance" / "outbox" / "new"
    sent = _wait(lambda: sorted(outbox.glob("*")) if outbox.exists() else [], 90, "an email")
    email = message_from_bytes(sent[0].read_bytes(), policy=policy.default)
    assert email["From"].addresses[0].display_name == "Career Notes"
    assert "12 Garden Lane, Springfield, IL 62701" in email.get_body(("plain",)).get_content()


def test_the_web_process_logs_json_lines_only(tmp_path):
    """The Procfile's web line: gunicorn's own lines and its access log are JSON too."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in TEND_VARIABLES} | {
        "FLASK_SKIP_DOTENV": "1",
        "FLASK_DEBUG": "1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
        "PYTHONPATH": str(ROOT),
    }
    command = procfile_web_command()
    web = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    token = "ImFiY2RlZmdoaWprbG1ub3AiLCJjb25maXJtIl0.ZzYxNw.cRXeHd3yF0JtE9kXbYUq0k3Wq8Q"
    try:
        _wait(lambda: _up(f"http://127.0.0.1:{port}/signup"), 60, "gunicorn")
        _up(f"http://127.0.0.1:{port}/unsubscribe/{token}")  # a link from an email
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        out, err = web.communicate(timeout=30)
    lines = [json.loads(text) for text in (out + err).splitlines() if text.strip()]
    assert all({"ts", "level", "logger", "message"} <= set(entry) for entry in lines)
    loggers = {entry["logger"] for entry in lines}
    assert {"gunicorn.error", "gunicorn.access"} <= loggers
    assert any(
        entry["logger"] == "gunicorn.access" and '"GET /signup HTTP/1.1" 200' in entry["message"]
        for entry in lines
    )
    assert any(f"Listening at: http://127.0.0.1:{port}" in e["message"] for e in lines)
    # A token in a path never reaches a log: the access line masks it.
    assert token not in out + err
    assert any('"GET /unsubscribe/<token> HTTP/1.1"' in e["message"] for e in lines)
