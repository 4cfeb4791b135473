"""Serves moto's S3/SQS/EC2/Auto Scaling emulation for the embedded local cloud, made fast enough to
benchmark against: `python -m shared.moto_server --port PORT`.

Measured here, per request on moto 5.2 (see bench/throughput.py for the end-to-end effect):
- moto's SQS checks every queued message's visibility on every call, and each clock read builds
  datetimes (~15 µs): with 600 messages queued one ReceiveMessage took ~1 s and one
  GetQueueAttributes ~0.4 s. Reading the clock with time.time() (the same value) makes them
  ~60 ms and ~25 ms.
- moto lists its own package folder (~180 stat calls) on every request to route it; the folder
  does not change while it runs, so the list is computed once.
- moto's stock server closes the connection after each response; here it speaks HTTP/1.1 with
  keep-alive, so boto3's connection pool is used as on AWS.
Behaviour is unchanged: these replace how values are computed, not what they are.
"""

from __future__ import annotations

import argparse
import time


def apply_speedups() -> None:
    from moto import backends
    from moto.core import utils
    from moto.sqs import models as sqs_models

    slow_unix_time = utils.unix_time

    def unix_time(dt=None) -> float:
        return time.time() if dt is None else slow_unix_time(dt)

    def unix_time_millis(dt=None) -> float:
        return unix_time(dt) * 1000.0

    for module in (utils, sqs_models):
        module.unix_time = unix_time
        module.unix_time_millis = unix_time_millis

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def serve(host: str, port: int) -> None:
    apply_speedups()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server

    class KeepAliveHandler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_request(self, *args, **kwargs) -> None:  # one line per request would swamp the log
            pass

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, port, app, threaded=True, request_handler=KeepAliveHandler)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
