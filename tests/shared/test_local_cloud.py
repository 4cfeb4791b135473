"""The embedded moto server: starts on a free loopback port, speaks S3 and SQS, stops by its handle."""

from shared.config import load_config
from shared.local_cloud import MotoServer
from shared.provision import provision
from shared.sqs import SQSService


def test_moto_server_serves_the_pipeline_resources_and_stops():
    server = MotoServer().start()
    try:
        assert server.endpoint.startswith("http://127.0.0.1:")
        cfg = server.config(load_config(env={}))
        assert cfg.is_local and cfg.source_of("endpoint_url") == "embedded local cloud"
        resources = provision(cfg)
        sqs = SQSService(cfg)
        url = resources.queues["requests"]
        sqs.send_batch(url, [f"m{i}" for i in range(15)])
        received = sqs.receive(url, wait=1) + sqs.receive(url, wait=1)
        assert len(received) == 15 and len({m.id for m in received}) == 15
        process = server.process
    finally:
        server.stop()
    assert process.poll() is not None
