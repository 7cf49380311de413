"""The ``natverk`` command: check, run, backup, restore, demo, and the exports."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from datetime import date
from pathlib import Path

from config import Config, ConfigError, load_config

log = logging.getLogger("natverk")


def _setup_logging(verbose: bool, log_format: str = "text") -> None:
    """Text lines, or with ``--log-format json`` one JSON object per line (python-json-logger):
    time, level, logger, message, and fields such as ``ref`` (the reference users are shown
    when something failed) and ``event_id``."""
    handler = logging.StreamHandler()
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    # nio is chatty at INFO; its warnings (rate limits, timeouts) still show.
    logging.getLogger("nio").setLevel(logging.WARNING)
    # nio warns about every 404 body it cannot parse (e.g. an alias that does not exist yet).
    logging.getLogger("nio.responses").setLevel(logging.ERROR)


def _config_or_report(path: Path, failure: str = "") -> Config | None:
    """The checked configuration, or None after printing every problem (file:line: path)."""
    try:
        return load_config(path)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print(failure or f"{len(err.problems)} problem(s) found.", file=sys.stderr)
        return None


def cmd_check(args: argparse.Namespace) -> int:
    config = _config_or_report(args.config)
    if config is None:
        return 2
    print(
        f"{args.config}: OK ({len(config.cohorts)} cohorts, "
        f"{len(config.all_advisers())} advisers, {len(config.admins)} admin(s))"
    )
    encrypted = encrypted_rooms(config)
    if encrypted:
        print(
            f"End-to-end encryption on for: {', '.join(encrypted)}. Once on in a room it can "
            "never be switched off (taking `encryption: true` away leaves the room encrypted)."
        )
    if config.bot.encrypt_for == "cross-signed":
        print(
            "Room keys go only to devices their owner has cross-signed (bot.encrypt_for: "
            'cross-signed, as Element\'s "exclude insecure devices").'
        )
    else:
        print("Room keys go to every device of every member (bot.encrypt_for: all-devices).")
    return 0


def encrypted_rooms(config: Config) -> list[str]:
    """What the configuration asks to encrypt, as `natverk check` names it."""
    found = [c.room for c in config.cohorts if c.encryption]
    if config.advisers.encryption:
        found.append(config.advisers.room)
    found.extend(c.room for c in config.advisers.categories if c.encryption and c.room)
    if config.bot.encryption:
        found.append("the direct chats the bot opens")
    return found


def cmd_health(args: argparse.Namespace) -> int:
    """0 if the running bot's /health answers 200 (within ``--wait`` seconds), else 1."""
    import time
    import urllib.error
    import urllib.request

    config = _config_or_report(args.config)
    if config is None:
        return 2
    if config.metrics is None:
        print("metrics.listen is not set: there is no /health to ask", file=sys.stderr)
        return 2
    host, _, port = config.metrics.listen.rpartition(":")
    url = f"http://{host or '127.0.0.1'}:{port}/health"
    deadline = time.monotonic() + args.wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                print(resp.read().decode().strip())
                return 0
        except urllib.error.HTTPError as err:
            answer = err.read().decode().strip()
        except OSError as err:
            answer = f"no answer from {url}: {err}"
        if time.monotonic() >= deadline:
            print(answer, file=sys.stderr)
            return 1
        time.sleep(2)


async def _run(config_path: Path) -> None:
    from bot.app import App

    config = load_config(config_path)
    app = App(config, config_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def on_hup() -> None:
        log.info("SIGHUP: reloading %s", config_path)
        reload_task = loop.create_task(app.reload_from_disk())
        pending.add(reload_task)
        reload_task.add_done_callback(pending.discard)

    pending: set[asyncio.Task[object]] = set()
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    await app.run_until_stopped(stop)


def cmd_run(args: argparse.Namespace) -> int:
    from bot.session import LoginError
    from storage import DatabaseTooNewError
    from storage.restore import BotRunningError

    _setup_logging(args.verbose, args.log_format)
    if (
        _config_or_report(args.config, "natverk did not start: the configuration is invalid.")
        is None
    ):
        return 2
    try:
        asyncio.run(_run(Path(args.config)))
    except (LoginError, DatabaseTooNewError, BotRunningError) as err:
        print(f"natverk did not start: {err}", file=sys.stderr)
        return 1
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from storage import Database

    config = _config_or_report(args.config)
    if config is None:
        return 2

    from bot import clock

    async def backup() -> None:
        db = await Database.open(config.bot.database)
        try:
            # The time is taken before the copy: a restore reads what the bot sent since.
            await db.backup(Path(args.dest), taken_at_ms=clock.now_ms())
        finally:
            await db.close()
        backup_crypto_store(config.bot.crypto_store_path, crypto_dest)

    crypto_dest = Path(f"{args.dest}.crypto")
    if crypto_dest.exists():
        print(f"backup not written: {crypto_dest} already exists", file=sys.stderr)
        return 1
    try:
        asyncio.run(backup())
    except FileExistsError as err:
        print(f"backup not written: {err}", file=sys.stderr)
        return 1
    print(f"Backup of {config.bot.database} written to {args.dest}")
    if crypto_dest.exists():
        print(f"Backup of the crypto store {config.bot.crypto_store_path} written to {crypto_dest}")
    return 0


def backup_crypto_store(store: Path, dest: Path) -> None:
    """An online copy of the crypto store's SQLite files (SQLite's backup API: consistent
    while the bot writes), in a new folder readable by the bot's user only. Restore: put the
    folder back where ``bot.crypto_store`` points, with the database of the same backup."""
    import sqlite3

    files = sorted(store.glob("*.db")) if store.is_dir() else []
    if not files:
        return
    dest.mkdir(mode=0o700)
    for src in files:
        target = dest / src.name
        with (
            contextlib.closing(sqlite3.connect(src)) as source,
            contextlib.closing(sqlite3.connect(target)) as copy,
        ):
            source.backup(copy)
        target.chmod(0o600)


def cmd_restore(args: argparse.Namespace) -> int:
    """Put a backup in place of the database of a stopped bot (the replaced one is kept)."""
    from datetime import UTC, datetime

    from bot import clock
    from storage import restore

    config = _config_or_report(args.config)
    if config is None:
        return 2
    db_path = Path(config.bot.database)
    lock = restore.RunLock(db_path)
    try:
        lock.acquire()
    except restore.BotRunningError as err:
        print(f"not restored: {err}; stop it first", file=sys.stderr)
        return 1
    try:
        if Path(args.backup).resolve() == db_path.resolve():
            print("not restored: that is the database itself", file=sys.stderr)
            return 2
        try:
            info = restore.inspect_backup(args.backup)
        except restore.RestoreError as err:
            print(f"not restored: {err}", file=sys.stderr)
            return 1
        aside = restore.install(args.backup, db_path, info, clock.now_ms())
    finally:
        lock.release()
    taken = datetime.fromtimestamp(info.taken_at_ms / 1000, UTC).isoformat(timespec="seconds")
    how = "taken at" if info.exact else "last active at (not written by natverk backup)"
    print(f"Restored {args.backup} ({how} {taken}) to {db_path}.")
    if aside is not None:
        print(f"The replaced database is kept as {aside}.")
    print(
        "At its next start the bot reads what it sent since then, handles the events since "
        "then again and sends nothing twice."
    )
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    from commands.questions.status import unclaimed
    from storage import Database, privacy

    config = _config_or_report(args.config)
    if config is None:
        return 2
    if args.action == "erase" and not args.yes:
        print(f"This erases what natverk keeps about {args.user}; add --yes.", file=sys.stderr)
        return 1

    async def act() -> str:
        db = await Database.open(config.bot.database)
        try:
            if args.action == "export":
                return privacy.to_json(await privacy.export_user(db, args.user))
            counts = await privacy.erase_user(db, args.user, unclaimed=unclaimed)
            done = ", ".join(f"{k}: {v}" for k, v in counts.items())
            return f"Erased {args.user} ({done}). The running bot redacts its copies."
        finally:
            await db.close()

    print(asyncio.run(act()))
    return 0


async def export_catalogue(config: Config, fmt: str, cohort_id: str | None = None) -> str:
    """The materials catalogue of one cohort (what its members see) or of the whole network,
    as md, csv or html, read from the bot's database."""
    from bot import clock
    from commands.materials import export
    from storage import Database
    from storage import materials as store

    ids = export.cohort_ids(config, cohort_id)
    db = await Database.open(config.bot.database)
    try:
        items = await store.catalogue(db, ids)
    finally:
        await db.close()
    return export.for_network(config, items, cohort_id, fmt, clock.now_ms())


def _config_with_database(args: argparse.Namespace) -> tuple[Config | None, int]:
    """The configuration of a command that reads the bot's database (and ``--cohort``, if
    given, names a cohort of it); else None and the exit code, the problem printed."""
    config = _config_or_report(args.config)
    if config is None:
        return None, 2
    cohort = getattr(args, "cohort", None)
    if cohort is not None and config.cohort(cohort) is None:
        known = ", ".join(c.id for c in config.cohorts) or "none"
        print(f"no cohort {cohort!r} in {args.config} (cohorts: {known})", file=sys.stderr)
        return None, 2
    if not Path(config.bot.database).exists():
        print(f"no database at {config.bot.database}: has the bot run yet?", file=sys.stderr)
        return None, 1
    return config, 0


def _write_out(out: str | bytes, output: str | None, what: str) -> None:
    """To standard output, or to the file ``output`` (DOCX only to a file)."""
    if output is None:
        assert isinstance(out, str)
        sys.stdout.write(out)
        return
    path = Path(output)
    if isinstance(out, bytes):
        path.write_bytes(out)
    else:
        path.write_text(out, "utf-8")
    print(f"{what} written to {output}", file=sys.stderr)


def cmd_catalogue_export(args: argparse.Namespace) -> int:
    """Write the materials catalogue of a cohort or the whole network as md, csv or html."""
    config, failed = _config_with_database(args)
    if config is None:
        return failed
    text = asyncio.run(export_catalogue(config, args.format, args.cohort))
    if args.output is None:
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, "utf-8")
        print(f"Catalogue written to {args.output}", file=sys.stderr)
    return 0


def cmd_survey(args: argparse.Namespace) -> int:
    from commands.surveys.export import export_csv

    config = _config_or_report(args.config)
    if config is None:
        return 2
    if config.survey(args.survey) is None:
        print(f"there is no survey {args.survey!r} in {args.config}", file=sys.stderr)
        return 1
    sys.stdout.write(asyncio.run(export_csv(config, args.survey)))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo.run import run_demo

    _setup_logging(args.verbose)
    if args.script and not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)  # a clean transcript
    return run_demo(Path(args.data_dir), script=args.script, port=args.port)


def cmd_report(args: argparse.Namespace) -> int:
    """Write the evaluation report (html, docx, md or json) for a period, phase or cohort."""
    from bot import clock
    from commands.evaluation import report
    from commands.evaluation.evidence import PeriodError
    from storage import Database

    config = _config_or_report(args.config)
    if config is None:
        return 2
    if args.phase and (args.first or args.last):
        print("give either --phase or --from/--to, not both", file=sys.stderr)
        return 2
    if not Path(config.bot.database).exists():
        print(f"no database at {config.bot.database}: has the bot run yet?", file=sys.stderr)
        return 1
    if args.format == "docx" and args.output is None:
        print("a DOCX report needs --output FILE", file=sys.stderr)
        return 2

    async def build() -> str | bytes:
        db = await Database.open(config.bot.database)
        try:
            now = clock.now_ms()
            figures = await report.figures_of(
                db,
                config,
                now_ms=now,
                phase=args.phase,
                first=args.first,
                last=args.last,
                cohort=args.cohort,
                with_free_text=args.with_free_text,
            )
            return report.written(figures, config, args.format, args.lang, now)
        finally:
            await db.close()

    try:
        out = asyncio.run(build())
    except PeriodError as err:
        print(str(err), file=sys.stderr)
        return 2
    _write_out(out, args.output, "Report")
    return 0


def cmd_plans_export(args: argparse.Namespace) -> int:
    """Write the action plans (with their history) as md, csv, html or docx."""
    config, failed = _config_with_database(args)
    if config is None:
        return failed
    if args.format == "docx" and args.output is None:
        print("a DOCX file needs --output FILE", file=sys.stderr)
        return 2
    out = asyncio.run(export_plans(config, args.format, args.cohort, args.lang))
    _write_out(out, args.output, "Plans")
    return 0


async def export_plans(config: Config, fmt: str, cohort_id: str | None, lang: str) -> str | bytes:
    from bot import clock, i18n
    from commands.plans import export
    from storage import Database
    from storage import plans as store

    db = await Database.open(config.bot.database)
    try:
        ids = [cohort_id] if cohort_id else [c.id for c in config.cohorts]
        plans = await store.plans(db, ids)
        found = []
        for plan in plans:
            cohort = config.cohort(plan.cohort_id)
            found.append(
                (plan, cohort.name if cohort else plan.cohort_id, await store.items(db, [plan.id]))
            )
        history = await store.history(db, [p.id for p in plans])
    finally:
        await db.close()
    doc = export.build(
        lang,
        config.bot.timezone,
        found,
        history,
        lambda user: user,  # the export names people by their Matrix id
        i18n.format_datetime(lang, clock.now_ms(), config.bot.timezone),
    )
    return export.WRITERS[fmt](doc)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="natverk", description="A Matrix bot for professional-learning networks."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="validate a configuration file without connecting")
    p.add_argument("config", type=Path)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run", help="run the bot")
    p.add_argument("config", type=Path)
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per line (for a log collector)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("health", help="ask the running bot's /health (metrics.listen)")
    p.add_argument("config")
    p.add_argument("--wait", type=float, default=0, help="keep asking up to this many seconds")
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("backup", help="write an online copy of the bot's database")
    p.add_argument("config", type=Path)
    p.add_argument("dest", type=Path)
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="put a backup in place of the database (the bot stopped)")
    p.add_argument("config", type=Path, help="the bot's configuration (names its database)")
    p.add_argument("backup", type=Path, help="a copy written by natverk backup")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("user", help="export or erase what the bot keeps about a person")
    p.add_argument("action", choices=["export", "erase"])
    p.add_argument("config", type=Path)
    p.add_argument("user", help="the person's Matrix id, e.g. @anna:example.org")
    p.add_argument("--yes", action="store_true", help="confirm erasure")
    p.set_defaults(func=cmd_user)

    p = sub.add_parser("catalogue", help="the materials catalogue")
    catalogue_sub = p.add_subparsers(dest="catalogue_command", required=True)
    p = catalogue_sub.add_parser("export", help="write the catalogue as Markdown, CSV or HTML")
    p.add_argument("config", type=Path)
    p.add_argument("--format", choices=["md", "csv", "html"], default="md")
    p.add_argument("--cohort", default=None, help="one cohort's catalogue (default: all)")
    p.add_argument("--output", type=Path, default=None, help="file to write (default: stdout)")
    p.set_defaults(func=cmd_catalogue_export)

    p = sub.add_parser("survey", help="export a survey's responses (no names if anonymous)")
    p.add_argument("action", choices=["export"])
    p.add_argument("config", type=Path)
    p.add_argument("survey", help="the survey id")
    p.add_argument("--format", choices=["csv"], default="csv")
    p.set_defaults(func=cmd_survey)

    p = sub.add_parser("report", help="the evaluation report: criteria, participation, support")
    p.add_argument("config", type=Path)
    p.add_argument("--phase", help="a phase id from evaluation.phases")
    p.add_argument("--from", dest="first", type=_day, help="first day, YYYY-MM-DD")
    p.add_argument("--to", dest="last", type=_day, help="last day, YYYY-MM-DD")
    p.add_argument("--cohort", help="one cohort's id (default: the whole network)")
    p.add_argument("--lang", choices=["sv", "en"], default="sv")
    p.add_argument("--format", choices=["html", "docx", "md", "json"], required=True)
    p.add_argument("--output", help="write to this file (default: standard output)")
    p.add_argument(
        "--with-free-text",
        action="store_true",
        help="include free-text answers of anonymous surveys (they carry no names)",
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("plans", help="the cohorts' action plans")
    plans_sub = p.add_subparsers(dest="plans_command", required=True)
    p = plans_sub.add_parser("export", help="write the plans and their history")
    p.add_argument("config", type=Path)
    p.add_argument("--cohort", help="one cohort's id (default: every cohort)")
    p.add_argument("--format", choices=["md", "csv", "html", "docx"], required=True)
    p.add_argument("--lang", choices=["sv", "en"], default="sv")
    p.add_argument("--output", help="write to this file (default: standard output)")
    p.set_defaults(func=cmd_plans_export)

    p = sub.add_parser("demo", help="run a demo network on an embedded Synapse")
    p.add_argument("--data-dir", default="demo-data", help="where the demo keeps its state")
    p.add_argument("--port", type=int, default=None, help="Synapse port (default: a free one)")
    p.add_argument(
        "--script",
        action="store_true",
        help="play a short scripted conversation, print what each person sees, and exit",
    )
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
