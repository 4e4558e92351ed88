"""``volunteer-register``: the youth organisation's register from the command line (recheck, list, export,
erase, purge). Exit 0 on success, 1 when a recheck flags someone, 2 for a usage error.

The state folder (``--state``, or ``VOLUNTEER_REGISTER_STATE``) holds the SQLite register, the cached trust
data and ``config.json`` (the issuer's trust list URL, written by ``init`` or by the portal); a PostgreSQL
register is given with ``--database`` or ``VOLUNTEER_REGISTER_DATABASE``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from didlib.errors import DidlibError, UsageError
from didlib.files import write_private
from didlib.keys import load_public_key
from didlib.verifier import TrustCache
from volunteer_register.recheck import recheck
from volunteer_register.register import Register, dumps

CONFIG = "config.json"
OPERATOR = "operator.pem"
RETENTION_DAYS = 365


@dataclass
class Setup:
    """Where a register lives and whose trust list keeps it current."""

    state: Path
    database: str | None = None

    def register(self) -> Register:
        return Register(self.database) if self.database else Register.in_folder(self.state)

    def config(self) -> dict[str, str]:
        try:
            data = json.loads((self.state / CONFIG).read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"no register set up in {self.state}: run volunteer-register init --issuer URL",
                             code="not_set_up") from exc
        return data if isinstance(data, dict) else {}

    def init(self, issuer: str) -> None:
        """Pin the issuer's trust list operator key and note its trust list URL (trust on first use)."""
        pem = httpx.get(f"{issuer}/trust/operator.pem", timeout=10).raise_for_status().content
        load_public_key(pem)  # refuse anything that is not a key
        write_private(self.state / OPERATOR, pem)
        write_private(self.state / CONFIG, json.dumps({"trust_list_url": f"{issuer}/trust/list"}).encode())

    def cache(self) -> TrustCache:
        self.config()
        return TrustCache(self.state / "trust", load_public_key((self.state / OPERATOR).read_bytes()))


def _fetch(url: str) -> bytes:
    return httpx.get(url, timeout=10).raise_for_status().content


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="volunteer-register", description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=Path(os.environ.get("VOLUNTEER_REGISTER_STATE",
                                                                          "volunteer-register")))
    parser.add_argument("--database", default=os.environ.get("VOLUNTEER_REGISTER_DATABASE"),
                        help="a PostgreSQL URL (default: SQLite in the state folder)")
    parser.add_argument("--actor", default=getpass.getuser(), help="who is acting, for the audit log")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="set up: pin the issuer's trust list").add_argument("--issuer", required=True)
    check = commands.add_parser("recheck", help="refresh the status lists and flag who needs attention")
    check.add_argument("--offline", action="store_true", help="use the cached lists only")
    commands.add_parser("list", help="every volunteer, flagged first")
    commands.add_parser("export", help="CSV for the safeguarding lead, on stdout")
    for name, text in (("show", "one volunteer"), ("left", "record that a volunteer left"),
                       ("erase", "erase a volunteer (gone from the database files)")):
        commands.add_parser(name, help=text).add_argument("id", type=int)
    commands.add_parser("find", help="look up by DBS certificate number").add_argument("certificate_number")
    purge = commands.add_parser("purge", help="erase volunteers who left longer ago than the retention period")
    purge.add_argument("--retention-days", type=int, default=RETENTION_DAYS)
    commands.add_parser("audit", help="the audit log, newest first")
    args = parser.parse_args(argv)
    setup = Setup(args.state, args.database)
    try:
        return _run(args, setup)
    except (UsageError, DidlibError) as exc:
        print(f"volunteer-register: {exc.message} [{exc.code}]", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"volunteer-register: the issuer could not be reached: {exc} [unreachable]", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, setup: Setup) -> int:
    if args.command == "init":
        setup.init(args.issuer)
        print(f"register set up in {setup.state}")
        return 0
    register = setup.register()
    try:
        if args.command == "recheck":
            cache = setup.cache()
            report = recheck(register, cache, setup.config().get("trust_list_url"),
                             None if args.offline else _fetch, args.actor)
            for volunteer in register.volunteers(args.actor):
                if volunteer.flags:
                    print(f"FLAGGED {volunteer.id} {volunteer.name}: {'; '.join(volunteer.flags)}")
            print(report.summary())
            return 1 if report.flagged else 0
        if args.command == "list":
            for volunteer in register.volunteers(args.actor):
                print(dumps(volunteer))
        elif args.command == "show":
            print(dumps(register.get(args.id, args.actor)))
        elif args.command == "find":
            found = register.find(args.certificate_number, args.actor)
            print(dumps(found) if found else "not on the register")
            return 0 if found else 1
        elif args.command == "export":
            sys.stdout.write(register.export_csv(args.actor))
        elif args.command == "left":
            register.left(args.id, args.actor)
        elif args.command == "erase":
            register.erase(args.id, args.actor)
            print(f"volunteer {args.id} erased")
        elif args.command == "purge":
            gone = register.purge(dt.timedelta(days=args.retention_days), args.actor)
            print(f"{gone} erased (left more than {args.retention_days} days ago)")
        elif args.command == "audit":
            for event in register.audit_log(args.actor):
                print(json.dumps(event, default=str))
        return 0
    finally:
        register.close()


if __name__ == "__main__":
    sys.exit(main())
