"""A throwaway Synapse homeserver in a subprocess, for the test-suite and ``natverk demo``.

Synapse is only ever run as ``python -m synapse.app.homeserver`` (it is AGPL and an optional
``demo``/``dev`` extra, never imported by the bot). The server listens on 127.0.0.1 only, keeps
its SQLite database, media and logs in ``data_dir``, and can be stopped and started again on the
same port and database.

    hs = EmbeddedSynapse(Path("demo-data/synapse"))
    hs.start()
    anna = hs.register_user("anna", "secret")
    ...
    hs.stop()
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import yaml

__all__ = ["EmbeddedSynapse", "MatrixHTTPError", "RegisteredUser"]

CONFIG_NAME = "homeserver.yaml"
LOG_NAME = "homeserver.log"
DB_NAME = "homeserver.db"

_LOOPBACK = "127.0.0.1"
_RELAXED = {"per_second": 1000, "burst_count": 1000}
# Every rate limiter Synapse 1.163 reads from the config (synapse/config/ratelimiting.py),
# except rc_federation (no federation listener here) and media download sizes.
_RATE_LIMIT_KEYS = (
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_login.address",
    "rc_login.account",
    "rc_login.failed_attempts",
    "rc_admin_redaction",
    "rc_joins.local",
    "rc_joins.remote",
    "rc_joins_per_room",
    "rc_key_requests",
    "rc_3pid_validation",
    "rc_invites.per_room",
    "rc_invites.per_user",
    "rc_invites.per_issuer",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_presence.per_user",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
)
# Never send requests for 127.0.0.1 through an http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class RegisteredUser:
    """A user on the embedded server, with a logged-in device."""

    user_id: str
    access_token: str
    device_id: str
    password: str

    @property
    def localpart(self) -> str:
        return self.user_id[1:].partition(":")[0]


class MatrixHTTPError(RuntimeError):
    """A non-2xx answer from the homeserver; ``errcode`` is e.g. ``M_LIMIT_EXCEEDED``."""

    def __init__(self, method: str, path: str, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        self.errcode = str(body.get("errcode", ""))
        self.retry_after_ms = body.get("retry_after_ms")
        super().__init__(f"{method} {path} -> HTTP {status}: {body}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, since: int = 0, lines: int = 40) -> str:
    """The last ``lines`` lines of ``path``, reading from byte offset ``since``."""
    try:
        with path.open("rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def terminate(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process is still there after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def registration(
    secret: str, nonce: str, localpart: str, password: str, admin: bool
) -> dict[str, Any]:
    """The body of a shared-secret registration (``/_synapse/admin/v1/register``): the mac is
    HMAC-SHA1 over nonce, user, password and admin, NUL-separated."""
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode()]))
    mac.update(b"\x00admin" if admin else b"\x00notadmin")
    return {
        "nonce": nonce,
        "username": localpart,
        "password": password,
        "admin": admin,
        "mac": mac.hexdigest(),
    }


class EmbeddedSynapse:
    """A Synapse subprocess with its config, database and log in ``data_dir``.

    ``relaxed_rate_limits`` raises every client rate limit to 1000/s (ordinary tests and the
    demo); with ``False`` Synapse's defaults apply (rate-limit tests). The port is chosen once
    (free port when ``port`` is None) and kept across :meth:`restart`.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        server_name: str = "localhost",
        port: int | None = None,
        relaxed_rate_limits: bool = True,
        python: str = sys.executable,
        log_to: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.server_name = server_name
        self.relaxed_rate_limits = relaxed_rate_limits
        self.python = python
        self._auto_port = port is None
        self.port = free_port() if port is None else port
        self.log_path = Path(log_to).resolve() if log_to is not None else self.data_dir / LOG_NAME
        self.registration_secret = ""
        self.last_start_seconds: float | None = None  # wall time of the last start()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._log_offset = 0  # where the current run's output starts in log_path

    # -- paths and state ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{_LOOPBACK}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / CONFIG_NAME

    @property
    def _log_config_path(self) -> Path:
        return self.data_dir / f"{self.server_name}.log.config"  # the generated one, rewritten

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Generate the config (first time only), patch it, start Synapse, wait for /health.

        Raises RuntimeError with the tail of the log if Synapse exits or does not answer
        within ``timeout`` seconds.
        """
        if self.running:
            return
        began = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            self._generate_config()
        try:
            self._launch(timeout)
        except RuntimeError:
            # A port picked by free_port() can be taken by someone else before Synapse binds
            # it; pick another one once, but only before this server has ever been up.
            if not (
                self._auto_port
                and self.last_start_seconds is None
                and "Address already in use" in _tail(self.log_path, self._log_offset)
            ):
                raise
            self.port = free_port()
            self._launch(timeout)
        self.last_start_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Terminate Synapse (SIGTERM, then SIGKILL after 10 s). Safe to call repeatedly."""
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate(proc)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def restart(self) -> None:
        """Stop and start again: same data dir, database and port."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        # Last resort against an orphaned Synapse if the owner forgot stop().
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()

    def _generate_config(self) -> None:
        cmd = [
            self.python,
            "-m",
            "synapse.app.homeserver",
            "--server-name",
            self.server_name,
            "--config-path",
            str(self.config_path),
            "--data-directory",
            str(self.data_dir),
            "--generate-config",
            "--report-stats=no",
        ]
        result = subprocess.run(
            cmd, cwd=self.data_dir, capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            hint = ""
            if "ModuleNotFoundError" in result.stderr:
                hint = f"\nSynapse is not installed for {self.python}: pip install 'natverk[demo]'"
            raise RuntimeError(
                f"generating the Synapse config failed (exit {result.returncode}):\n"
                f"{result.stderr[-3000:]}{hint}"
            )

    def _patch_config(self) -> None:
        config: dict[str, Any] = yaml.safe_load(self.config_path.read_text("utf-8")) or {}
        existing = config.get("server_name")
        if existing and existing != self.server_name:
            raise RuntimeError(
                f"{self.config_path} is for server {existing!r}, not {self.server_name!r}; "
                "use another data directory"
            )
        self.registration_secret = str(
            config.get("registration_shared_secret") or secrets.token_urlsafe(32)
        )
        config.update(
            {
                "server_name": self.server_name,
                "public_baseurl": self.base_url + "/",
                "listeners": [
                    {
                        "port": self.port,
                        "bind_addresses": [_LOOPBACK],
                        "type": "http",
                        "tls": False,
                        "x_forwarded": False,
                        "resources": [{"names": ["client"], "compress": False}],
                    }
                ],
                "database": {
                    "name": "sqlite3",
                    "args": {"database": str(self.data_dir / DB_NAME)},
                },
                "media_store_path": str(self.data_dir / "media_store"),
                "log_config": str(self._log_config_path),
                "trusted_key_servers": [],
                "suppress_key_server_warning": True,
                "report_stats": False,
                "enable_registration": False,
                "registration_shared_secret": self.registration_secret,
                "bcrypt_rounds": 4,
                "presence": {"enabled": False},
                "url_preview_enabled": False,
                "max_upload_size": "50M",
                "enable_authenticated_media": True,
            }
        )
        for key in [k for k in config if k.startswith("rc_")]:
            del config[key]  # strict: Synapse's defaults; relaxed: rewritten below
        if self.relaxed_rate_limits:
            for dotted in _RATE_LIMIT_KEYS:
                *parents, leaf = dotted.split(".")
                node = config
                for part in parents:
                    node = node.setdefault(part, {})
                node[leaf] = dict(_RELAXED)
        header = "# Generated by Synapse, patched by natverk's EmbeddedSynapse on every start.\n"
        self.config_path.write_text(header + yaml.safe_dump(config, sort_keys=False), "utf-8")
        self._log_config_path.write_text(self._log_config(), "utf-8")

    def _log_config(self) -> str:
        # Warnings and errors only, appended to the same file as Synapse's stdout/stderr.
        return yaml.safe_dump(
            {
                "version": 1,
                "formatters": {
                    "precise": {
                        "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - "
                        "%(request)s - %(message)s"
                    }
                },
                "handlers": {
                    "file": {
                        "class": "logging.FileHandler",
                        "formatter": "precise",
                        "filename": str(self.log_path),
                        "encoding": "utf8",
                    }
                },
                "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
                "root": {"level": "WARNING", "handlers": ["file"]},
                "disable_existing_loggers": False,
            },
            sort_keys=False,
        )

    def _launch(self, timeout: float) -> None:
        self._patch_config()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_offset = self._log_file.tell()
        self._log_file.write(f"--- starting Synapse on {self.base_url}\n".encode())
        self._log_file.flush()
        self._proc = subprocess.Popen(
            [self.python, "-m", "synapse.app.homeserver", "--config-path", str(self.config_path)],
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                self.stop()
                raise RuntimeError(
                    f"Synapse exited with code {code} during start; {self.log_path} ends:\n"
                    + _tail(self.log_path, self._log_offset)
                )
            if self._healthy():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"Synapse did not answer {self.base_url}/health within {timeout:g} s; "
                    f"{self.log_path} ends:\n" + _tail(self.log_path, self._log_offset)
                )
            time.sleep(0.05)

    def _healthy(self) -> bool:
        try:
            with _OPENER.open(self.base_url + "/health", timeout=2) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    # -- HTTP --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: dict[str, Any] | None = None,
        *,
        timeout: float = 30,
    ) -> dict[str, Any]:
        """One JSON request to the server; raises MatrixHTTPError on a non-2xx answer."""
        data = json.dumps(body).encode() if body is not None else None
        # Always http://127.0.0.1:<port> plus a path we build: no file: or custom schemes.
        req = urllib.request.Request(self.base_url + path, data=data, method=method)  # noqa: S310
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                error_body = json.loads(raw) if raw else {}
            except ValueError:
                error_body = {"error": raw.decode("utf-8", "replace")}
            raise MatrixHTTPError(method, path, err.code, error_body) from None
        result: dict[str, Any] = json.loads(raw) if raw else {}
        return result

    def admin_request(
        self, method: str, path: str, token: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A request to the admin API: ``path`` is relative to ``/_synapse/admin``,
        e.g. ``/v2/users/@anna:localhost``; ``token`` must belong to a server admin."""
        return self.request(method, "/_synapse/admin" + path, token, body)

    # -- users -------------------------------------------------------------------------

    def register_user(
        self, localpart: str, password: str, *, admin: bool = False
    ) -> RegisteredUser:
        """Register with the shared-secret admin API (no rate limit, no open registration)."""
        if not self.registration_secret:
            raise RuntimeError("start() the server before registering users")
        nonce = str(self.request("GET", "/_synapse/admin/v1/register")["nonce"])
        body = registration(self.registration_secret, nonce, localpart, password, admin)
        resp = self.request("POST", "/_synapse/admin/v1/register", body=body)
        return RegisteredUser(
            str(resp["user_id"]), str(resp["access_token"]), str(resp["device_id"]), password
        )

    def login(self, localpart: str, password: str) -> RegisteredUser:
        """Password login: a new device and access token for an existing user."""
        resp = self.request(
            "POST",
            "/_matrix/client/v3/login",
            body={
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": localpart},
                "password": password,
            },
        )
        return RegisteredUser(
            str(resp["user_id"]), str(resp["access_token"]), str(resp["device_id"]), password
        )

    def override_ratelimit(self, admin_token: str, user_id: str) -> None:
        """Exempt ``user_id`` from the message rate limit (e.g. the bot or a test user)."""
        quoted = urllib.parse.quote(user_id, safe="")
        self.admin_request(
            "POST",
            f"/v1/users/{quoted}/override_ratelimit",
            admin_token,
            {"messages_per_second": 0, "burst_count": 0},
        )

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<EmbeddedSynapse {self.server_name} {self.base_url} {state} in {self.data_dir}>"
