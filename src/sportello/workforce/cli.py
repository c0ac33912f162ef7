"""`sportello wfm ...`: workforce maths from the command line."""

from __future__ import annotations

import json
from typing import Annotated

import typer

wfm_app = typer.Typer(help="Workforce management: staffing maths.", no_args_is_help=True)


@wfm_app.command("erlang")
def erlang_command(
    calls: Annotated[float, typer.Option(help="Contacts offered in the interval.")],
    aht: Annotated[float, typer.Option(help="Average handle time, seconds.")],
    interval: Annotated[float, typer.Option(help="Interval length, seconds.")] = 900,
    target: Annotated[float, typer.Option(help="Service-level target, e.g. 0.8.")] = 0.8,
    answer_within: Annotated[
        float, typer.Option("--answer-within", help="Service-level threshold, seconds.")
    ] = 20,
    agents: Annotated[
        int | None, typer.Option(help="Evaluate this staffing instead of finding one.")
    ] = None,
    patience: Annotated[
        float | None, typer.Option(help="Mean patience, seconds: Erlang A (with hang-ups).")
    ] = None,
    shrinkage: Annotated[float, typer.Option(help="Share of paid time not on queue.")] = 0.0,
    max_occupancy: Annotated[
        float, typer.Option("--max-occupancy", help="Highest acceptable occupancy.")
    ] = 1.0,
    concurrency: Annotated[int, typer.Option(help="Contacts an agent handles at once.")] = 1,
    target_asa: Annotated[
        float | None, typer.Option("--target-asa", help="Highest acceptable ASA, seconds.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Agents required for a service level (Erlang C, or Erlang A with --patience), or the
    service level, ASA, occupancy and probability of waiting of a given staffing (--agents)."""
    from sportello.core.errors import InvalidInput
    from sportello.workforce import erlang

    try:
        result = erlang.answer(
            calls=calls,
            aht=aht,
            interval=interval,
            answer_within=answer_within,
            target=target,
            agents=agents,
            patience=patience,
            shrinkage=shrinkage,
            max_occupancy=max_occupancy,
            concurrency=concurrency,
            target_asa=target_asa,
        )
    except InvalidInput as exc:
        if as_json:
            typer.echo(json.dumps({"error": exc.message, "field": exc.field}))
        else:
            typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(
        f"{result['model']}: {result['traffic_erlangs']:.2f} Erlangs\n"
        f"agents (productive): {result['agents']}\n"
        f"agents to schedule:  {result['scheduled_agents']}\n"
        f"service level:       {result['service_level']:.4f} within {answer_within:g} s\n"
        f"ASA:                 {result['asa_seconds']:.1f} s\n"
        f"occupancy:           {result['occupancy']:.4f}\n"
        f"P(wait):             {result['wait_probability']:.4f}\n"
        f"P(abandon):          {result['abandon_probability']:.4f}"
    )


@wfm_app.command("forecast")
def forecast_command(
    horizon_days: Annotated[int, typer.Option("--days", help="Days to forecast after today.")] = 14,
    interval: Annotated[int, typer.Option(help="Interval in minutes: 15, 30 or 60.")] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Forecast contacts per queue, channel and interval from the history (as the planner's
    "Forecast again" button does), and print the model chosen and its back-test errors."""
    from sportello.accounts import service as accounts_service
    from sportello.config import get_settings
    from sportello.core.db import Database, utcnow
    from sportello.core.errors import InvalidInput
    from sportello.workforce import actions

    db = Database(get_settings().database_url)
    try:
        with db.transaction() as session:
            run = actions.do_run_forecast(
                session,
                brand_id=accounts_service.default_brand(session).id,
                now=utcnow(),
                horizon_days=horizon_days,
                interval_minutes=interval,
            )
            summary = run.summary
            run_id = run.id
    except InvalidInput as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps({"run_id": run_id, "series": summary}, indent=2))
        return
    typer.echo(f"forecast {run_id}: {len(summary)} series")
    for item in summary:
        week1 = item["backtest"].get(item["model"], {}).get("week 1", {})
        typer.echo(
            f"  queue {item['queue_id']} {item['channel_class']}: {item['model']}"
            f" (WAPE week 1 {week1.get('wape', 0):.1%}, MAPE {week1.get('mape', 0):.1%})"
        )
