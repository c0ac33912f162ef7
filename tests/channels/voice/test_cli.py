"""``sportello voice config`` writes configs Kamailio itself accepts (``kamailio -c``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from typer.testing import CliRunner

from sportello.channels.voice.daemons import KAMAILIO, kamailio_token
from sportello.cli import app
from tests.channels.voice.harness import need_voice_tools


def test_voice_config_writes_a_config_kamailio_accepts(tmp_path: Path) -> None:
    need_voice_tools()
    result = CliRunner().invoke(
        app, ["voice", "config", "--directory", str(tmp_path), "--sip-port", "25070"]
    )
    assert result.exit_code == 0, result.output
    cfg = tmp_path / "kamailio.cfg"
    text = cfg.read_text()
    assert "listen=udp:127.0.0.1:25070" in text and kamailio_token() in text
    assert cfg.stat().st_mode & 0o077 == 0  # the token is a secret
    assert "--table=-1" in (tmp_path / "rtpengine.args").read_text()
    check = subprocess.run([KAMAILIO, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
