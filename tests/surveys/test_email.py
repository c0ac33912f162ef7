"""A survey by email: real delivery through the test SMTP server, answered by its link."""

from __future__ import annotations

import email
from email import policy

from sportello.surveys.models import ResponseStatus
from tests.factories import csrf_from, inbound
from tests.surveys.helpers import configure, conversation_from, drain, link_in, resolve, responses


def test_resolved_email_conversation_gets_a_survey_by_mail_and_the_link_answers_it(
    db, personas, mailbox, smtp, client
):
    configure(db, personas, kind="nps")
    conversation_id = conversation_from(db, mailbox, inbound("Il pacco è arrivato rotto."))
    resolve(db, conversation_id, personas.sara)
    drain(db)

    [response] = responses(db)
    assert response.status == ResponseStatus.SENT
    assert response.kind == "nps" and response.agent_id == personas.sara.id
    # Two mails went out: Sara's reply and the survey, the survey in Italian (no language known).
    assert len(smtp.messages) == 2
    mail = email.message_from_bytes(smtp.messages[-1].data, policy=policy.default)
    assert smtp.messages[-1].rcpt_tos == ["mario.rossi@example.it"]
    body = mail.get_body(("plain",)).get_content()
    assert "consiglieresti" in body.lower() or "consigli" in body.lower()
    token = link_in(body)
    assert "/optout" in body

    page = client.get(f"/s/{token}")
    assert page.status_code == 200
    assert 'lang="it"' in page.text
    answered = client.post(f"/s/{token}", data={"score": "10", "csrf_token": csrf_from(page.text)})
    assert answered.status_code == 200, answered.text
    [response] = responses(db)
    assert (response.status, response.score, response.answered_via) == ("answered", 10, "link")
