"""The `opsdesk` command: init | serve | demo | token | check | audit | config | search | manage."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time


def _setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdesk.settings")
    import django

    django.setup()


def cmd_init(args) -> int:
    _setup()
    from pathlib import Path

    from django.core.management import call_command
    from django.db import transaction

    from opsdesk.accounts.models import Team, User
    from opsdesk.accounts.services import create_user, generate_password
    from opsdesk.core import config_as_code
    from opsdesk.core.actors import Actor

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    print("Database is up to date.")
    password = None
    defaults_loaded = 0
    with transaction.atomic():
        if not User.objects.filter(username="admin").exists():
            password = generate_password()
            create_user(actor=Actor.system("init"), username="admin", password=password, role="admin",
                        is_superuser=True, first_name="Opsdesk", last_name="Administrator")
        if password and not Team.objects.exists():
            # Defaults go into an empty installation only: never over configuration someone made.
            defaults = Path(config_as_code.__file__).parent / "defaults" / "defaults.yaml"
            defaults_loaded = len(config_as_code.apply_document(config_as_code.load(defaults.read_text()),
                                                               actor=Actor.system("init")))
    if password:
        print("")
        print("  First administrator created. This password is shown once:")
        print("    user:     admin")
        print(f"    password: {password}")
        print("  Change it after logging in (top right menu > Change password).")
        print("")
        if defaults_loaded:
            print(f"Default configuration loaded ({defaults_loaded} items): a first team, Operations.")
    else:
        print("Administrator exists; nothing to create.")
    return 0


def cmd_demo(args) -> int:
    _setup()
    from opsdesk.core.demo import load_demo

    created = load_demo()
    print(f"Demo data: {created} records created (existing ones were left as they were).")
    return 0


def cmd_serve(args) -> int:
    """Web server, Celery worker and beat as one command. One Ctrl-C or SIGTERM stops all three."""
    _setup()
    from django.conf import settings

    python = sys.executable
    embedded_broker = settings.CELERY_BROKER_URL.startswith("sqla+")
    worker = [python, "-m", "celery", "-A", "opsdesk", "worker", "--loglevel", "INFO",
              "--queues", settings.CELERY_TASK_DEFAULT_QUEUE, "--hostname", f"opsdesk@{os.uname().nodename}"]
    if embedded_broker:
        worker += ["--pool", "solo"]
    else:
        worker += ["--concurrency", str(args.workers)]
    commands = {
        "web": [python, "-m", "gunicorn", "opsdesk.wsgi:application", "--bind", f"{args.host}:{args.port}",
                "--workers", str(args.web_workers), "--access-logfile", "-", "--error-logfile", "-",
                # Threads: a long streamed CSV export keeps its worker alive (the main thread goes on
                # telling the master it is alive), and slow clients do not block a whole process.
                "--worker-class", "gthread", "--threads", "4",
                "--timeout", "60", "--graceful-timeout", "10"],
        "worker": worker,
        "beat": [python, "-m", "celery", "-A", "opsdesk", "beat", "--loglevel", "INFO",
                 "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
    }
    if args.no_worker:
        commands.pop("worker")
        commands.pop("beat")
    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(signum=None, frame=None):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        print("opsdesk: stopping web, worker and beat ...", flush=True)
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, command in commands.items():
        # Own process groups: a terminal's Ctrl-C reaches only us, and we stop the children in order.
        # stderr joins stdout: one stream of logs for the terminal, systemd or a container runtime.
        children[name] = subprocess.Popen(command, start_new_session=True, stderr=subprocess.STDOUT)
    print(f"opsdesk: serving at http://{args.host}:{args.port}/ (Ctrl-C stops everything)", flush=True)
    code = 0
    try:
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None:
                    print(f"opsdesk: {name} exited with {proc.returncode}; stopping the rest", flush=True)
                    code = proc.returncode or 1
                    stop()
                    break
            time.sleep(0.5)
    finally:
        deadline = time.monotonic() + 15
        for proc in children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return code


def cmd_token(args) -> int:
    _setup()
    import datetime

    from django.utils import timezone

    from opsdesk.accounts.models import User
    from opsdesk.accounts.services import create_token
    from opsdesk.core.actors import Actor

    user = User.objects.filter(username=args.user).first()
    if user is None:
        print(f"opsdesk: no user called {args.user!r}", file=sys.stderr)
        return 2
    expires = timezone.now() + datetime.timedelta(days=args.days) if args.days else None
    _token, plaintext = create_token(user, actor=Actor.system("cli"), name=args.name, scope=args.scope,
                                     expires_at=expires)
    print(plaintext)
    return 0


def cmd_check(args) -> int:
    _setup()
    from django.conf import settings
    from django.core.management import call_command

    from opsdesk.core.health import check_broker, check_database

    ok = True
    try:
        call_command("check", verbosity=0)
        print("settings:  ok")
    except Exception as exc:  # noqa: BLE001
        ok = False
        print(f"settings:  FAILED {exc}")
    db_ok, db_detail = check_database()
    print(f"database:  {'ok' if db_ok else 'FAILED'} ({db_detail})")
    broker_ok, broker_detail = check_broker()
    print(f"broker:    {'ok' if broker_ok else 'FAILED'} ({broker_detail})")
    print(f"data dir:  {settings.DATA_DIR}")
    print(f"debug:     {'ON (do not use in production)' if settings.DEBUG else 'off'}")
    return 0 if ok and db_ok and broker_ok else 1


def cmd_audit(args) -> int:
    _setup()
    from opsdesk.core.audit import verify_chain

    result = verify_chain()
    if result.ok:
        print(f"audit chain intact: {result.checked} rows verified")
        return 0
    print(f"audit chain BROKEN at row {result.bad_entry_id}: {result.reason} "
          f"({result.checked} rows before it verified)")
    return 1


def cmd_config(args) -> int:
    _setup()
    from opsdesk.core import config_as_code
    from opsdesk.core.actors import Actor

    if args.action == "export":
        sys.stdout.write(config_as_code.dump(config_as_code.export_document()))
        return 0
    if args.action == "schema":
        import json

        print(json.dumps(config_as_code.schema(), indent=2))
        return 0
    with open(args.file, encoding="utf-8") if args.file != "-" else sys.stdin as handle:
        text = handle.read()
    try:
        document = config_as_code.load(text)
        changes = config_as_code.apply_document(document, actor=Actor.system("config-apply"), dry_run=args.dry_run)
    except config_as_code.ConfigError as exc:
        print("opsdesk: the configuration is not valid; nothing was changed:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    changed = [c for c in changes if c.action != "unchanged"]
    for change in changes:
        if change.action != "unchanged" or args.verbose:
            print(change.line())
    verb = "would change" if args.dry_run else "changed"
    print(f"{len(changed)} {verb}, {len(changes) - len(changed)} unchanged" + (" (dry run)" if args.dry_run else ""))
    return 0


def cmd_search(args) -> int:
    """`opsdesk search reindex [--kind K ...]`: rebuild the full-text index from the records (after a
    restore from an older backup, a bulk import that went around the services, or a changed indexer)."""
    _setup()
    from opsdesk.core import search

    known = sorted(i.kind for i in search.indexers())
    unknown = sorted(set(args.kind or ()) - set(known))
    if unknown:
        print(f"opsdesk: unknown kind(s) {', '.join(unknown)}; indexed kinds: {', '.join(known)}", file=sys.stderr)
        return 2
    kinds = args.kind or known
    started = time.monotonic()
    for kind in kinds:
        count = search.reindex([kind])
        print(f"{kind}: {count:,} indexed")
    print(f"reindexed {', '.join(kinds)} in {time.monotonic() - started:.1f} s")
    return 0


def cmd_manage(args) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdesk.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["opsdesk manage", *args.rest])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opsdesk", description="Opsdesk IT operations platform")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="migrate, create the first admin and load the default configuration on the "
                                "first run (safe to run twice)")
    serve = sub.add_parser("serve", help="web server + worker + beat")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--web-workers", type=int, default=2)
    serve.add_argument("--workers", type=int, default=2, help="worker concurrency with a Redis broker")
    serve.add_argument("--no-worker", action="store_true", help="web only (workers run elsewhere)")
    sub.add_parser("demo", help="load realistic demo data")
    token = sub.add_parser("token", help="API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a token for USER and print it once")
    create.add_argument("user")
    create.add_argument("--name", default="cli")
    create.add_argument("--scope", choices=["read", "write"], default="write")
    create.add_argument("--days", type=int, default=0, help="expiry in days (0: never)")
    sub.add_parser("check", help="check settings, database and broker")
    audit = sub.add_parser("audit", help="change log")
    audit.add_argument("action", choices=["verify"])
    config = sub.add_parser("config", help="configuration as code")
    config.add_argument("action", choices=["export", "apply", "schema"])
    config.add_argument("file", nargs="?", default="-")
    config.add_argument("--dry-run", action="store_true")
    config.add_argument("--verbose", "-v", action="store_true")
    search = sub.add_parser("search", help="full-text search index")
    search.add_argument("action", choices=["reindex"])
    search.add_argument("--kind", action="append", help="only this kind (incident, article ...); repeatable")
    manage = sub.add_parser("manage", help="Django management commands", add_help=False)
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


COMMANDS = {"init": cmd_init, "serve": cmd_serve, "demo": cmd_demo, "token": cmd_token, "check": cmd_check,
            "audit": cmd_audit, "config": cmd_config, "search": cmd_search, "manage": cmd_manage}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args) or 0


if __name__ == "__main__":
    sys.exit(main())
