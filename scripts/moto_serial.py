"""Starts moto's server with one request at a time.

moto's in-memory backends are not thread-safe: concurrent requests to one table can fail with
"dictionary changed size during iteration" or interleave a transaction's check and write. Real
DynamoDB makes each transaction atomic; serving requests one by one gives moto the same atomicity,
so the store contract tests (e.g. "concurrent version-checked updates: one winner") test our code,
not moto's races. Usage: python moto_serial.py HOST PORT
"""
import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False)


if __name__ == "__main__":
    main()
