"""The Erlang maths through its doors: the CLI and the REST API."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sportello.cli import app as cli_app
from tests.api.helpers import assert_problem, make_token


def test_cli_required_json() -> None:
    result = CliRunner().invoke(
        cli_app,
        [
            "wfm", "erlang", "--calls", "100", "--aht", "180", "--interval", "1800",
            "--target", "0.8", "--answer-within", "20", "--shrinkage", "0.3",
            "--max-occupancy", "0.85", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["agents"] == 14 and body["scheduled_agents"] == 20
    assert round(body["service_level"], 3) == 0.888
    assert round(body["wait_probability"], 3) == 0.174
    assert body["meets_target"] is True


def test_cli_evaluates_given_agents_and_rejects_unstable() -> None:
    runner = CliRunner()
    ok = runner.invoke(
        cli_app,
        ["wfm", "erlang", "--calls", "100", "--aht", "180", "--interval", "1800",
         "--agents", "13", "--json"],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["mode"] == "evaluate"
    assert json.loads(ok.output)["agents"] == 13
    bad = runner.invoke(
        cli_app,
        ["wfm", "erlang", "--calls", "100", "--aht", "180", "--interval", "1800",
         "--agents", "10", "--json"],
    )  # fmt: skip
    assert bad.exit_code == 2
    assert "Unstable queue" in json.loads(bad.output)["error"]


def test_api_erlang(client, db, personas) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {make_token(db, personas.sara, ['read'])}"}
    r = client.get(
        "/api/v1/wfm/erlang",
        params={"calls": 2000, "aht": 180, "interval": 900, "answer_within": 20,
                "patience": 90, "target": 0.8},
        headers=headers,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "erlang_a" and body["service_level"] >= 0.8
    unstable = client.get(
        "/api/v1/wfm/erlang",
        params={"calls": 100, "aht": 180, "interval": 900, "agents": 5},
        headers=headers,
    )
    assert "Unstable queue" in assert_problem(unstable, 422)["detail"]
    assert client.get("/api/v1/wfm/erlang", params={"calls": 1, "aht": 1}).status_code == 401


def test_api_erlang_refuses_loads_no_contact_center_has(client, db, personas) -> None:  # type: ignore[no-untyped-def]
    """A search for millions of agents would hold a worker for minutes: refused at once."""
    import time

    headers = {"Authorization": f"Bearer {make_token(db, personas.sara, ['read'])}"}
    for extra in ({}, {"patience": 60}):
        started = time.monotonic()
        r = client.get(
            "/api/v1/wfm/erlang",
            params={"calls": 10_000_000, "aht": 86400, "interval": 60, "target": 0.999, **extra},
            headers=headers,
        )
        assert assert_problem(r, 422)["errors"][0]["field"] == "calls"
        assert time.monotonic() - started < 5


def test_cli_forecast(db, personas) -> None:  # type: ignore[no-untyped-def]
    from sportello.core.db import utcnow
    from tests.workforce.world import history_on_webform

    history_on_webform(db, personas, days=21, now=utcnow())
    result = CliRunner().invoke(cli_app, ["wfm", "forecast", "--days", "7", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output[result.output.index("{") :])
    assert body["run_id"] and body["series"][0]["channel_class"] == "email"
    bad = CliRunner().invoke(cli_app, ["wfm", "forecast", "--days", "99"])
    assert bad.exit_code == 2
