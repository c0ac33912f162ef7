"""The OpenAPI document against the server: generated requests to every operation (schemathesis,
bounded examples) as an admin with a read/write/admin token. No request may end in a server
error, and every answer must match what the document says (status codes, content types, bodies
and headers; invalid data refused).

One check is adapted: schemathesis expects every schema-valid request to be accepted, but some
rules no schema can state (a shortcut already taken, a calendar with no open hours, a page
cursor the server never issued, an id that must name an existing row). For those the server may
answer 422 with a problem that names the field; anything else still fails the check.

The operations are walked in one test (schemathesis's pytest plugin does not load under this
pytest); a failure names the operation and the request that broke it."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.api.helpers import make_token

EXAMPLES = 12


@schemathesis.check
def valid_data_is_accepted_or_refused_by_field(ctx, response, case):  # type: ignore[no-untyped-def]
    if response.status_code != 422 or case.meta is None:
        return None
    if getattr(case.meta, "generation", None) and not case.meta.generation.mode.is_positive:
        return None  # negative data: refusing it is right
    body = response.json()
    named = body.get("errors") or []
    assert named and all(e.get("field") and e.get("message") for e in named), (
        f"schema-valid data refused without naming the field: {body}"
    )
    return None


def test_every_operation_answers_as_documented(app, db, personas):  # type: ignore[no-untyped-def]
    token = make_token(db, personas.admin, ("read", "write", "admin"))
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    failures = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,  # the same requests every run: CI is not a lottery
            suppress_health_check=list(HealthCheck),
        )
        def run(case):  # type: ignore[no-untyped-def]
            case.call_and_validate(
                headers={"Authorization": f"Bearer {token}"},
                excluded_checks=[positive_data_acceptance],
                additional_checks=[valid_data_is_accepted_or_refused_by_field],
            )

        try:
            run()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # schemathesis groups what it found
            inner = getattr(exc, "exceptions", ())
            details = "".join(f"\n  - {type(e).__name__}: {e}" for e in inner)
            failures.append(f"{operation.label}: {exc}{details}")
    assert operations > 50
    assert not failures, "\n\n".join(failures)
