"""Desktop settings: to a Config, saved and loaded, and a wrong value named with its source."""

from __future__ import annotations

import json

import pytest

from desktop.settings import AWS, EMBEDDED, EXTERNAL, DesktopSettings, load_settings, save_settings
from shared.config import Config, ConfigError


def test_aws_settings_become_the_config_and_embedded_clears_the_endpoint():
    base = Config()
    cfg = DesktopSettings(target=AWS, profile="dev", region="eu-west-1", endpoint_url="http://127.0.0.1:5000",
                          input_bucket="in-b", max_workers=4).to_config(base)
    assert (cfg.profile, cfg.region, cfg.endpoint_url, cfg.input_bucket, cfg.max_workers) == \
        ("dev", "eu-west-1", "http://127.0.0.1:5000", "in-b", 4)
    assert cfg.source_of("region") == "desktop settings"
    embedded = DesktopSettings(target=EMBEDDED, endpoint_url="http://127.0.0.1:5000").to_config(base)
    assert embedded.endpoint_url is None and embedded.profile is None
    assert embedded.source_of("max_workers") == "default"  # 0: the fleet's own measured default


def test_saved_settings_load_back_and_bad_ones_are_refused(tmp_path):
    path = tmp_path / "s.json"
    saved = DesktopSettings(target=AWS, region="us-west-2", scaler=EXTERNAL)
    save_settings(path, saved)
    assert load_settings(path, DesktopSettings()) == saved
    assert load_settings(tmp_path / "absent.json", DesktopSettings()) == DesktopSettings()
    path.write_text(json.dumps({"scaler": "sometimes"}))
    with pytest.raises(ConfigError, match="scaler"):
        load_settings(path, DesktopSettings())
    path.write_text(json.dumps({"max_workers": "many"}))
    with pytest.raises(ConfigError, match="max_workers"):
        load_settings(path, DesktopSettings())
