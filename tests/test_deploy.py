"""The production guide's files work: the systemd units verify, the proxy config is valid and
reaches the web unit, the PostgreSQL commands give a role that can migrate, and a backup made
by deploy/backup.sh restores into a fresh database with every row (docs/deploy.md)."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from support import BACKEND, PG_SERVER, ROOT, env_for, flask_cli, free_port, signup, work

from models import db

DEPLOY = ROOT / "deploy"
UNITS = ["tend-web.service", "tend-worker@.service", "tend-clock.service"]
INSTALLED = "/srv/tend"  # where docs/deploy.md puts the checkout


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text())
    return parser


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if ": " in line)


# ---- the systemd units -----------------------------------------------------------------------


def test_the_units_verify_with_systemd(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is missing: apt-get install systemd")
    # Installed as the guide says, but with this checkout where /srv/tend would be, so the
    # commands they name exist and are executable.
    for path in DEPLOY.iterdir():
        if path.suffix in (".service", ".target", ".timer"):
            text = path.read_text().replace(INSTALLED, str(ROOT))
            (tmp_path / path.name).write_text(text)
    names = [
        "tend-web.service",
        "tend-worker@1.service",
        "tend-clock.service",
        "tend.target",
        "tend-backup.service",
        "tend-backup.timer",
    ]
    done = subprocess.run(
        ["systemd-analyze", "verify", *[f"./{name}" for name in names]],
        cwd=tmp_path,
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    # systemd-analyze exits 0 on an unknown key or a bad value, but says so: nothing is fine.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def _without_bind(command: list[str]) -> list[str]:
    """A command without the options a unit sets its own way (--bind, --workers)."""
    kept, skip = [], False
    for word in command:
        if skip:
            skip = False
        elif word in ("--bind", "--workers"):
            skip = True
        else:
            kept.append(word)
    return kept


def test_each_process_of_the_procfile_has_a_unit_that_restarts_and_reads_the_env_file():
    processes = procfile()
    for name, process in zip(UNITS, ("web", "worker", "clock"), strict=True):
        service = unit(name)["Service"]
        command = _without_bind(shlex.split(service["ExecStart"]))
        wanted = _without_bind(shlex.split(processes[process]))
        # The Procfile's command, run from the checkout's venv.
        assert command == [f"{INSTALLED}/.venv/bin/{wanted[0]}", *wanted[1:]]
        assert service["EnvironmentFile"] == f"{INSTALLED}/.env"
        assert service["WorkingDirectory"] == INSTALLED and service["User"] == "tend"
        assert service["Restart"] in ("on-failure", "always")
        assert service["RestartPreventExitStatus"] == "2"  # a refused setting: no restart loop
        assert unit(name)["Install"]["WantedBy"] == "tend.target"
    assert unit("tend-clock.service")["Service"]["Restart"] == "always"


def test_a_refused_setting_exits_with_the_status_the_units_do_not_restart_on(tmp_path):
    stay_stopped = {unit(name)["Service"]["RestartPreventExitStatus"] for name in UNITS}
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FLASK_DEBUG")}
    env |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "FLASK_SKIP_DOTENV": "1"}
    for name in UNITS:
        command = shlex.split(unit(name)["Service"]["ExecStart"].replace(INSTALLED, str(ROOT)))
        if "--bind" in command:
            command[command.index("--bind") + 1] = f"127.0.0.1:{free_port()}"
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert {str(done.returncode)} == stay_stopped, (name, done.stderr)
        # Every problem is listed at once; the missing key is one of them.
        assert any(line.startswith("tend: SECRET_KEY") for line in done.stderr.splitlines())


def test_the_proxy_config_is_valid_and_reaches_the_web_unit():
    web = shlex.split(unit("tend-web.service")["Service"]["ExecStart"])
    bind = web[web.index("--bind") + 1]
    assert bind.startswith("127.0.0.1:")  # only the proxy reaches gunicorn
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert re.search(rf"^\s*reverse_proxy {re.escape(bind)}\s*$", caddyfile, re.M)
    if not shutil.which("caddy"):
        pytest.skip("caddy is missing: apt-get install caddy")
    done = subprocess.run(
        ["caddy", "validate", "--adapter", "caddyfile", "--config", str(DEPLOY / "Caddyfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "Valid configuration" in done.stdout + done.stderr, done.stderr


# ---- PostgreSQL: the role, and a backup that restores ---------------------------------------


def _libpq(url: str) -> dict[str, str]:
    """The libpq environment (PGHOST, PGPORT, PGUSER) for a SQLAlchemy URL's server."""
    parsed = sa.engine.make_url(url)
    return {
        "PGHOST": parsed.host or "127.0.0.1",
        "PGPORT": str(parsed.port or 5432),
        "PGUSER": parsed.username or "postgres",
    }


def _pg(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args),
        env={**os.environ, **_libpq(PG_SERVER), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def _server_or_skip() -> None:
    if BACKEND != "postgresql":
        pytest.skip("runs in the PostgreSQL pass (TEND_TEST_DB=postgresql)")
    if not shutil.which("pg_dump"):
        pytest.skip("pg_dump is missing: apt-get install postgresql-client")


def test_the_guides_role_and_database_can_migrate_and_run(redis_url):
    _server_or_skip()
    name = f"tend_role_{uuid.uuid4().hex[:8]}"
    # docs/deploy.md: sudo -u postgres createuser tend; sudo -u postgres createdb --owner=tend tend
    _pg("createuser", name)
    try:
        _pg("createdb", f"--owner={name}", name)
        server = sa.engine.make_url(PG_SERVER)
        url = server.set(username=name, database=name).render_as_string(hide_password=False)
        env = env_for(url, redis_url, FLASK_SKIP_DOTENV="1")
        done = flask_cli(env, "db", "upgrade")
        assert done.returncode == 0, done.stderr
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            owner = conn.scalar(
                sa.text("SELECT tableowner FROM pg_tables WHERE tablename = :t"),
                {"t": "subscribers"},
            )
        engine.dispose()
        assert owner == name  # the role owns its schema: nothing more to grant
    finally:
        _pg("dropdb", "--if-exists", "--force", name)
        _pg("dropuser", "--if-exists", name)


def _rows(url: str) -> dict[str, list]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = {
            table.name: sorted(map(tuple, conn.execute(sa.select(table)).all()), key=repr)
            for table in db.metadata.sorted_tables
        }
        found["alembic_version"] = conn.execute(sa.text("SELECT * FROM alembic_version")).all()
    engine.dispose()
    return found


def test_a_backup_restores_into_a_fresh_database_with_every_row(app, database_url, tmp_path):
    _server_or_skip()
    client = app.test_client()
    signup(client, "ann@example.com", "Ann Lee")
    signup(client, "bo@example.com", "Bo Park")
    work(app)  # the worksheet emails go out: deliveries marked sent, with their Message-IDs
    before = _rows(database_url)
    assert len(before["subscribers"]) == 2 and len(before["deliveries"]) == 2

    source = sa.engine.make_url(database_url).database
    done = _pg(
        str(ROOT / "deploy" / "backup.sh"),
        source,
        env={"BACKUP_DIR": str(tmp_path), "KEEP_DAYS": "14"},
    )
    dump = Path(done.stdout.strip())
    assert dump.parent == tmp_path and dump.name.startswith(f"{source}-") and dump.stat().st_size
    assert list(tmp_path.glob("*.part")) == []

    fresh = f"tend_restore_{uuid.uuid4().hex[:8]}"
    _pg("createdb", fresh)
    try:
        # docs/deploy.md: pg_restore --no-owner --dbname=NEW_DATABASE FILE
        _pg("pg_restore", "--no-owner", f"--dbname={fresh}", str(dump))
        restored = sa.engine.make_url(database_url).set(database=fresh)
        restored = restored.render_as_string(hide_password=False)
        assert _rows(restored) == before
    finally:
        _pg("dropdb", "--if-exists", "--force", fresh)


def test_the_guides_env_lines_read_the_same_in_systemd_and_python_dotenv():
    """systemd's EnvironmentFile= and python-dotenv agree on `KEY=value` and `KEY='a value'`,
    but not on a comment after a value or an unquoted space: the guide writes neither."""
    guide = (ROOT / "docs" / "deploy.md").read_text()
    block = re.search(r"```sh\n(.*?)```", guide.split("## Production notes", 1)[1], re.S)
    lines = [line.strip() for line in block.group(1).splitlines()]
    settings = [line for line in lines if line and not line.startswith("#")]
    assert len(settings) >= 8
    for line in settings:
        key, _, value = line.partition("=")
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", key), line
        plain = re.fullmatch(r"[^\s#'\"]+", value)
        quoted = re.fullmatch(r"'[^']*'", value)
        assert plain or quoted, f"quote it: {line}"


# ---- the proxy in front of a running web unit --------------------------------------------------


def _through_caddy(caddy_port: int, ca: Path, path: str, body: bytes, headers: dict) -> tuple:
    """POST over TLS to Caddy from 127.0.0.2, a reader's address that is not the proxy's."""
    import http.client
    import socket
    import ssl

    context = ssl.create_default_context(cafile=str(ca))
    raw = socket.create_connection(("127.0.0.1", caddy_port), 10, ("127.0.0.2", 0))
    connection = http.client.HTTPSConnection("localhost", caddy_port, context=context)
    connection.sock = context.wrap_socket(raw, server_hostname="localhost")
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    answer = (response.status, response.read())
    connection.close()
    return answer


@pytest.mark.slow
def test_behind_the_guides_caddy_tend_records_the_readers_address(
    database_url, redis_url, tmp_path
):
    if not shutil.which("caddy"):
        pytest.skip("caddy is missing: apt-get install caddy")
    from support import stop, wait_for

    web_port, caddy_port, http_port = free_port(), free_port(), free_port()
    # The guide's Caddyfile, served on loopback with Caddy's own CA instead of a public one.
    site = (DEPLOY / "Caddyfile").read_text().replace("127.0.0.1:8000", f"127.0.0.1:{web_port}")
    site = site.replace(
        "tend.example.com {",
        "{\n\tadmin off\n\tskip_install_trust\n"
        f"\thttp_port {http_port}\n\thttps_port {caddy_port}\n}}\n"
        f"localhost:{caddy_port} {{\n\ttls internal",
    )
    (tmp_path / "Caddyfile").write_text(site)
    web_command = shlex.split(unit("tend-web.service")["Service"]["ExecStart"])
    web_command = [w.replace(INSTALLED, str(ROOT)) for w in web_command]
    web_command[web_command.index("--bind") + 1] = f"127.0.0.1:{web_port}"
    env = {**os.environ, **env_for(database_url, redis_url, PROXY_FIX_HOPS="1")}
    env |= {
        "FLASK_SKIP_DOTENV": "1",
        "WEB_CONCURRENCY": "1",
        "XDG_DATA_HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    web = subprocess.Popen(web_command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    caddy = subprocess.Popen(
        ["caddy", "run", "--adapter", "caddyfile", "--config", str(tmp_path / "Caddyfile")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ca = tmp_path / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        assert wait_for(ca.exists, timeout=30), "Caddy made no local CA"
        body = b'{"name": "Ann Lee", "email": "ann@example.com"}'
        headers = {"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.9"}

        def answered():
            try:
                return _through_caddy(caddy_port, ca, "/api/subscribe", body, headers)[0] == 202
            except OSError:
                return False

        assert wait_for(answered, timeout=60, step=0.5)
    finally:
        stop(caddy)
        stop(web)
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        ips = conn.scalars(sa.text("SELECT ip FROM consents")).all()
    engine.dispose()
    # The reader's address as Caddy saw it: not Caddy's own (127.0.0.1), and not the address
    # the reader claimed in a header of their own (Caddy trusts no proxy before it).
    assert ips == ["127.0.0.2"]
