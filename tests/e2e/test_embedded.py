"""The embedded cloud's own promises: it provisions, it fails clearly, it stops what it started."""

from __future__ import annotations

import pytest

from cloud.local.embedded import EmbeddedCloud, EmbeddedCloudError
from shared.config import Config
from shared.provision import lookup

pytestmark = pytest.mark.e2e


def test_without_workers_it_is_a_provisioned_moto_server_that_stops(tmp_path):
    with EmbeddedCloud(Config(), workers=0) as cloud:
        assert cloud.cfg.endpoint_url == cloud.endpoint and cloud.endpoint.startswith("http://127.0.0.1:")
        assert lookup(cloud.cfg).to_dict() == cloud.resources.to_dict()
        server = cloud.server.process
    assert server.poll() is not None


def test_a_worker_that_cannot_start_is_a_clear_error_and_nothing_is_left_running(tmp_path):
    # A setting the worker refuses at start-up makes it exit at once, before loading anything.
    cloud = EmbeddedCloud(Config(), workers=1, log_dir=tmp_path, worker_env={"IMGREC_BATCH_SIZE": "0"})
    with pytest.raises(EmbeddedCloudError, match="local-1 exited with code 2 before it was ready") as error:
        cloud.start()
    assert "batch_size" in str(error.value)  # the end of the worker's log says why
    assert cloud.fleet.pids() == {}  # nothing left running
    assert cloud.server.process is None
