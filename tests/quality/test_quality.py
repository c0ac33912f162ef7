"""Quality reviews end to end on the real database: scoring rules, the API's roles, sampling
(random, low CSAT, long handle time, weekly quota) as a durable job, calibration, pages."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from sportello.core import jobs
from sportello.core.db import utcnow
from sportello.core.dispatcher import Dispatcher
from sportello.quality import actions, handlers
from sportello.quality.models import Criterion, Review, Scale, Scorecard
from sportello.reports.models import ReportFact
from sportello.surveys.models import ResponseStatus, SurveyKind, SurveyResponse
from tests.factories import csrf_from, login
from tests.quality.world import criteria, default_scorecard, resolved_by


def _crit(cid: int, weight: int, scale: Scale = Scale.FIVE, critical: bool = False) -> Criterion:
    return Criterion(id=cid, name=str(cid), weight=weight, scale=scale, critical=critical)


def test_score_is_weighted_skips_na_and_critical_fails() -> None:
    cards = [_crit(1, 30), _crit(2, 10, Scale.THREE), _crit(3, 0, Scale.BINARY, critical=True)]
    # 5/5 -> 1.0 weight 30; 2/3 -> 0.5 weight 10; privacy yes (weight 0)
    assert actions.score_of(cards, {1: 5, 2: 2, 3: 1}) == (87.5, False)
    # N/A on the second criterion: only the first counts
    assert actions.score_of(cards, {1: 4, 2: None, 3: 1}) == (75.0, False)
    # a critical criterion at its lowest mark fails the whole review
    assert actions.score_of(cards, {1: 5, 2: 3, 3: 0}) == (0.0, True)
    assert actions.score_of(cards, {1: None, 2: None, 3: None}) == (None, False)


def _ratings(crits: list[dict], value: int = 4) -> list[dict]:
    return [
        {"criterion_id": c["id"], "value": 1 if c["scale"] == "binary" else value} for c in crits
    ]


def test_review_flow_through_the_api(client, db, personas, auth) -> None:
    card_id = default_scorecard(db, personas)
    crits = criteria(db, card_id)
    names = [c["name"] for c in crits]
    assert any("mpat" in n for n in names)  # empathy and emotions are in the default card
    assert [c["critical"] for c in crits].count(True) == 1
    conversation_id = resolved_by(db, personas, personas.sara)
    sup, sara, luca = auth(personas.supervisor), auth(personas.sara), auth(personas.luca)

    # agents do not create reviews
    r = client.post(
        "/api/v1/quality/reviews", json={"conversation_id": conversation_id}, headers=sara
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/quality/reviews", json={"conversation_id": conversation_id}, headers=sup
    )
    assert r.status_code == 201, r.text
    review = r.json()
    assert review["agent_id"] == personas.sara.id and review["status"] == "assigned"
    # not finished: the agent does not see it yet
    assert client.get(f"/api/v1/quality/reviews/{review['id']}", headers=sara).status_code == 404

    # bad input: a value off the scale names the criterion; a missing criterion too
    bad = _ratings(crits)
    bad[0]["value"] = 9
    r = client.put(
        f"/api/v1/quality/reviews/{review['id']}/score", json={"ratings": bad}, headers=sup
    )
    assert r.status_code == 422 and f"criterion_{crits[0]['id']}" in r.text
    r = client.put(
        f"/api/v1/quality/reviews/{review['id']}/score",
        json={"ratings": _ratings(crits)[1:]},
        headers=sup,
    )
    assert r.status_code == 422 and f"criterion_{crits[0]['id']}" in r.text

    good = _ratings(crits, 4)
    good[0]["value"] = None  # greeting N/A
    r = client.put(
        f"/api/v1/quality/reviews/{review['id']}/score",
        json={"ratings": good, "coaching_note": "Nomina l'emozione del cliente."},
        headers=sup,
    )
    assert r.status_code == 200, r.text
    assert r.json()["score"] == 75.0 and r.json()["status"] == "done"

    # Sara sees it, Luca does not; Sara cannot score it
    mine = client.get("/api/v1/quality/reviews", headers=sara).json()["items"]
    assert [x["id"] for x in mine] == [review["id"]]
    assert client.get("/api/v1/quality/reviews", headers=luca).json()["items"] == []
    assert client.get(f"/api/v1/quality/reviews/{review['id']}", headers=luca).status_code == 404
    r = client.put(
        f"/api/v1/quality/reviews/{review['id']}/score", json={"ratings": good}, headers=sara
    )
    assert r.status_code == 403
    # the supervisor cannot acknowledge in the agent's place
    r = client.post(f"/api/v1/quality/reviews/{review['id']}/acknowledge", headers=sup)
    assert r.status_code == 403
    r = client.post(f"/api/v1/quality/reviews/{review['id']}/acknowledge", headers=sara)
    assert r.status_code == 200 and r.json()["acknowledged_at"]

    # dispute, once, then answered
    r = client.post(
        f"/api/v1/quality/reviews/{review['id']}/dispute", json={"text": ""}, headers=sara
    )
    assert r.status_code == 422
    r = client.post(
        f"/api/v1/quality/reviews/{review['id']}/dispute",
        json={"text": "Ho salutato."},
        headers=sara,
    )
    assert r.json()["dispute_status"] == "open"
    r = client.post(
        f"/api/v1/quality/reviews/{review['id']}/dispute", json={"text": "Ancora"}, headers=sara
    )
    assert r.status_code == 409
    r = client.post(
        f"/api/v1/quality/reviews/{review['id']}/dispute/answer",
        json={"accept": True, "answer": "Hai ragione, correggo."},
        headers=sup,
    )
    assert r.json()["dispute_status"] == "accepted"

    # trends: per agent and overall, with the criteria
    points = client.get("/api/v1/quality/trends?by=all", headers=sup).json()
    assert len(points) == 1 and points[0]["iqs"] == 75.0 and points[0]["reviews"] == 1
    assert client.get("/api/v1/quality/trends", headers=luca).json() == []


def test_sampling_quota_methods_and_the_job(client, db, personas, auth) -> None:
    card_id = default_scorecard(db, personas)
    sara_ids = [resolved_by(db, personas, personas.sara) for _ in range(4)]
    luca_ids = [resolved_by(db, personas, personas.luca) for _ in range(3)]
    sup = auth(personas.supervisor)
    r = client.post(
        "/api/v1/quality/rules",
        json={"name": "Campione", "scorecard_id": card_id, "method": "random", "per_agent": 2},
        headers=sup,
    )
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    first = client.post(f"/api/v1/quality/rules/{rule_id}/run", headers=sup).json()
    assert first["created"] == 4
    with db.transaction() as s:
        rows = s.execute(select(Review.agent_id, Review.conversation_id, Review.reviewer_id)).all()
    assert sorted(a for a, _, _ in rows) == sorted([personas.sara.id] * 2 + [personas.luca.id] * 2)
    assert {c for _, c, _ in rows} <= set(sara_ids + luca_ids)
    assert {r for _, _, r in rows} <= {personas.supervisor.id, personas.admin.id}
    # the weekly quota is full: nothing more
    assert client.post(f"/api/v1/quality/rules/{rule_id}/run", headers=sup).json()["created"] == 0

    # long handle time: the longest of Sara's conversations not yet reviewed
    reviewed = {c for _, c, _ in rows}
    left = [c for c in sara_ids if c not in reviewed]
    with db.transaction() as s:
        for seconds, cid in zip((300, 5000), left, strict=True):
            s.execute(
                update(ReportFact)
                .where(ReportFact.conversation_id == cid)
                .values(handle_seconds=seconds)
            )
    r = client.post(
        "/api/v1/quality/rules",
        json={
            "name": "Lunghe",
            "scorecard_id": card_id,
            "method": "long_handle",
            "per_agent": 1,
            "team_id": personas.assistenza.id,
        },
        headers=sup,
    )
    long_rule = r.json()["id"]
    out = client.post(f"/api/v1/quality/rules/{long_rule}/run", headers=sup).json()
    assert out["created"] == 1
    with db.transaction() as s:
        picked = s.get_one(Review, out["review_ids"][0])
        assert picked.conversation_id == left[1] and picked.source == "long_handle"

    # low CSAT, run by the durable job: only the conversation with a CSAT of 1
    low = resolved_by(db, personas, personas.luca)
    happy = resolved_by(db, personas, personas.luca)
    with db.transaction() as s:
        for cid, score in ((low, 1), (happy, 5)):
            s.add(
                SurveyResponse(
                    brand_id=personas.brand_id,
                    conversation_id=cid,
                    customer_id=s.scalar(
                        select(ReportFact.customer_id).where(ReportFact.conversation_id == cid)
                    ),
                    kind=SurveyKind.CSAT,
                    code=f"c{cid}",
                    status=ResponseStatus.ANSWERED,
                    score=score,
                    answered_at=utcnow(),
                )
            )
    client.post(
        "/api/v1/quality/rules",
        json={"name": "CSAT", "scorecard_id": card_id, "method": "low_csat", "per_agent": 3},
        headers=sup,
    )
    handlers.ensure_scheduled(db, now=utcnow() - timedelta(days=1))
    with db.transaction() as s:
        s.execute(update(jobs.Job).values(run_at=utcnow() - timedelta(seconds=1)))
    Dispatcher(db, name="test").drain()
    with db.transaction() as s:
        low_reviews = s.scalars(select(Review.conversation_id).where(Review.source == "low_csat"))
        assert list(low_reviews) == [low]
        # the job scheduled its next run
        due = s.scalars(
            select(jobs.Job.run_at).where(
                jobs.Job.kind == actions.SAMPLE_JOB, jobs.Job.done_at.is_(None)
            )
        ).all()
        assert len(due) == 1 and due[0] > utcnow()


def test_calibration_is_blind_until_revealed(client, db, personas, auth) -> None:
    card_id = default_scorecard(db, personas)
    crits = criteria(db, card_id)
    conversation_id = resolved_by(db, personas, personas.sara)
    sup, admin = auth(personas.supervisor), auth(personas.admin)
    r = client.post(
        "/api/v1/quality/calibrations",
        json={
            "title": "Taratura",
            "conversation_id": conversation_id,
            "reviewer_ids": [personas.supervisor.id],
        },
        headers=sup,
    )
    assert r.status_code == 422  # at least two reviewers
    r = client.post(
        "/api/v1/quality/calibrations",
        json={
            "title": "Taratura",
            "conversation_id": conversation_id,
            "reviewer_ids": [personas.supervisor.id, personas.admin.id],
        },
        headers=sup,
    )
    assert r.status_code == 201, r.text
    cal = r.json()
    with db.transaction() as s:
        ids = {
            rv.reviewer_id: rv.id
            for rv in s.scalars(select(Review).where(Review.calibration_id == cal["id"]))
        }
    # the calibration reviews are not the agent's and not in the normal list
    assert client.get("/api/v1/quality/reviews", headers=auth(personas.sara)).json()["items"] == []
    assert client.get("/api/v1/quality/reviews", headers=sup).json()["items"] == []
    # the supervisor cannot score the admin's copy
    r = client.put(
        f"/api/v1/quality/reviews/{ids[personas.admin.id]}/score",
        json={"ratings": _ratings(crits, 5)},
        headers=sup,
    )
    assert r.status_code == 403
    r = client.put(
        f"/api/v1/quality/reviews/{ids[personas.supervisor.id]}/score",
        json={"ratings": _ratings(crits, 2)},
        headers=sup,
    )
    assert r.status_code == 200
    assert (
        client.post(f"/api/v1/quality/calibrations/{cal['id']}/reveal", headers=sup).status_code
        == 409
    )
    detail = client.get(f"/api/v1/quality/calibrations/{cal['id']}", headers=sup).json()
    assert detail["done"] == 1 and detail["criteria"] == [] and detail["scores"] == []
    client.put(
        f"/api/v1/quality/reviews/{ids[personas.admin.id]}/score",
        json={"ratings": _ratings(crits, 5)},
        headers=admin,
    )
    detail = client.post(f"/api/v1/quality/calibrations/{cal['id']}/reveal", headers=sup).json()
    assert detail["status"] == "revealed" and sorted(detail["scores"]) == [25.0, 100.0]
    empathy = next(c for c in detail["criteria"] if "mpat" in c["name"])
    assert (
        sorted(empathy["values"]) == [2, 5] and empathy["mean"] == 3.5 and empathy["spread"] == 0.75
    )
    privacy = next(c for c in detail["criteria"] if c["criterion_id"] == crits[-1]["id"])
    assert privacy["spread"] == 0.0
    # closed: no more scoring
    r = client.put(
        f"/api/v1/quality/reviews/{ids[personas.admin.id]}/score",
        json={"ratings": _ratings(crits, 3)},
        headers=admin,
    )
    assert r.status_code == 409


def _post(client, url: str, data: dict, page: str = "/quality"):
    token = csrf_from(client.get(page).text)
    return client.post(url, data={"csrf_token": token, **data}, follow_redirects=False)


def test_pages_for_reviewer_and_agent(client, db, personas) -> None:
    conversation_id = resolved_by(db, personas, personas.sara)
    with db.transaction() as s:
        from sportello.conversations.models import Conversation

        number = s.get_one(Conversation, conversation_id).number
    login(client, personas.supervisor)
    r = _post(client, "/quality/scorecards/default", {}, "/quality/scorecards")
    assert r.status_code == 303
    # an unknown conversation: a clear error, the number kept
    r = _post(client, "/quality/reviews", {"number": "999999"})
    assert r.status_code == 422 and "999999" in r.text
    r = _post(client, "/quality/reviews", {"number": str(number)})
    assert r.status_code == 303
    review_url = r.headers["location"]
    page = client.get(review_url)
    assert page.status_code == 200 and "Ecco la soluzione" in page.text
    with db.transaction() as s:
        review = s.scalar(select(Review))
        crits = s.get_one(Scorecard, review.scorecard_id).criteria
        form = {f"criterion_{c.id}": ("1" if c.scale == "binary" else "3") for c in crits}
    r = _post(
        client, f"{review_url}/score", {**{k: v for k, v in list(form.items())[1:]}}, review_url
    )
    assert r.status_code == 422  # the first criterion is missing
    r = _post(
        client, f"{review_url}/score", {**form, "coaching_note": "Saluta per nome."}, review_url
    )
    assert r.status_code == 303
    for url in (
        "/quality",
        "/quality/scorecards",
        "/quality/rules",
        "/quality/calibrations",
        "/quality/trends?by=team",
    ):
        assert client.get(url).status_code == 200, url
    csv_text = client.get("/quality/trends.csv?by=agent").text
    assert "Sara Conti" in csv_text and "50.0" in csv_text
    xlsx = client.get("/quality/trends.xlsx")
    assert xlsx.content[:2] == b"PK"
    r = _post(
        client,
        "/quality/rules",
        {"name": "", "per_agent": "2", "method": "random"},
        "/quality/rules",
    )
    assert r.status_code == 422
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/quality").text)})

    client.cookies.clear()
    login(client, personas.sara)
    assert client.get("/quality/scorecards").status_code == 403
    assert client.get("/quality/mine/badge").text.count(">1<") == 1
    mine = client.get("/quality/mine")
    assert "Saluta per nome." in mine.text
    r = _post(client, f"{review_url}/acknowledge", {}, review_url)
    assert r.status_code == 303
    assert ">0<" in client.get("/quality/mine/badge").text
    with db.transaction() as s:
        assert s.scalar(select(Review.acknowledged_at)) is not None
