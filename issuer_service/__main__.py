"""``didlib-issuer --host 127.0.0.1 --port 8000``: run the mock issuers with uvicorn.

With ``--workers N`` uvicorn starts N processes that each build the app from the environment. So that
they all serve one issuer, this process settles everything first and hands it down: the public URL goes
into the environment, and the keys, the admin token, the service secret, the database tables, the status
lists and the register are made here, once, before any worker starts (workers only read them).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import socket
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="didlib-issuer", description="The mock DVLA, DBS and training issuers.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="processes sharing one configuration")
    parser.add_argument("--demo", action="store_true", help="print the admin token, show transaction codes")
    parser.add_argument("--admin-port", type=int, help="serve the admin API only on this port of 127.0.0.1 "
                        "(default: the public port + 1, unless the service is purely local)")
    args = parser.parse_args(argv)

    import uvicorn

    from issuer_service.app import create_app, prepare
    from issuer_service.config import Settings, admin_listener

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.demo:
        os.environ["DIDLIB_DEMO"] = "1"
    settings = Settings.from_env(host=args.host, port=args.port)
    admin_port = admin_listener(args.host, settings.public_url, args.port, args.admin_port or settings.admin_port)
    if admin_port:
        os.environ["DIDLIB_ADMIN_PORT"] = str(admin_port)
        settings = dataclasses.replace(settings, admin_port=admin_port)
    os.environ["DIDLIB_PUBLIC_URL"] = settings.public_url
    os.environ["DIDLIB_ISSUER_DATA"] = str(settings.data_dir)
    prepare(settings)
    print(
        f"didlib issuer: data in {settings.data_dir}, database {settings.database_url.split('@')[-1]}", file=sys.stderr
    )
    print(
        f"didlib issuer: admin token {settings.admin_token}"
        if settings.demo
        else f"didlib issuer: admin token from DIDLIB_ADMIN_TOKEN or {settings.data_dir / 'admin-token'}",
        file=sys.stderr,
    )
    if admin_port:
        print(f"didlib issuer: admin API on http://127.0.0.1:{admin_port} only", file=sys.stderr)
    app = "issuer_service.app:create_app" if args.workers > 1 else create_app(settings)
    config = uvicorn.Config(
        app, factory=args.workers > 1, host=args.host, port=args.port, workers=args.workers, log_level="warning"
    )
    sockets = [config.bind_socket()]
    if admin_port:  # a second listener, on loopback only; the app serves /admin/* there and nowhere else
        sockets.append(_loopback_socket(admin_port))
    if args.workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=sockets).run()
    else:
        uvicorn.Server(config).run(sockets=sockets)
    return 0


def _loopback_socket(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.set_inheritable(True)
    return listener


if __name__ == "__main__":
    sys.exit(main())
