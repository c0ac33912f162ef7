"""Tests for sportello.channels.email.parsing against the .eml corpus and synthetic input."""

from __future__ import annotations

import base64
import hashlib
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sportello.channels.email.parsing import (
    BounceInfo,
    EmailAddress,
    EmailParseError,
    ParsedEmail,
    PecReceipt,
    decode_bytes,
    decode_header_value,
    extract_conversation_number,
    html_to_text,
    normalise_message_id,
    parse_message,
    sanitise_html,
)

CORPUS = Path(__file__).parent / "corpus"
CET = timezone(timedelta(hours=1))
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PDF_SHA = "cfa3181c1ee36e8bce5e39f84959f4558ea7ba32c0e4539a8ab3c8ce8c716ec6"


def load(name: str) -> ParsedEmail:
    return parse_message((CORPUS / name).read_bytes())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mail(headers: str, body: str | bytes = "Body.\n") -> bytes:
    head = headers.strip("\n").replace("\n", "\r\n").encode()
    raw_body = body.encode() if isinstance(body, str) else body
    return head + b"\r\n\r\n" + raw_body


def test_corpus_is_big_enough() -> None:
    assert len(list(CORPUS.glob("*.eml"))) >= 30


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.eml")), ids=lambda p: p.name)
def test_every_corpus_message_parses(path: Path) -> None:
    parsed = parse_message(path.read_bytes())
    assert parsed.message_id.startswith("<")
    assert parsed.message_id.endswith(">")
    assert parsed.sender is not None
    assert parsed.text.strip()
    assert parsed.visible_text.strip()
    assert parsed.visible_text in parsed.text


# --------------------------------------------------------------------------- clients


def test_gmail_reply_it() -> None:
    p = load("gmail_reply_it.eml")
    assert p.message_id == "<CAFx7bQ2d=kq8ZrL9q@mail.gmail.com>"
    assert p.in_reply_to == ["<ticket-1042-2@acme.it>"]
    assert p.references == ["<ticket-1042-1@acme.it>", "<ticket-1042-2@acme.it>"]
    assert p.subject == "Re: [#1042] Problema con la fattura"
    assert p.conversation_number == 1042
    assert p.sender == EmailAddress("Mario Rossi", "Mario.Rossi@gmail.com")
    assert p.to == [EmailAddress("Supporto Acme", "supporto@acme.it")]
    assert p.date == datetime(2025, 2, 3, 11, 15, 42, tzinfo=CET)
    assert p.visible_text == (
        "Buongiorno,\nla fattura è ancora sbagliata: l'importo corretto è 120,00 €.\n"
        "Potete verificare?\n\nGrazie\nMario"
    )
    assert "> abbiamo corretto la fattura n. 12." in p.text
    assert p.html is not None
    assert 'class="gmail_quote"' in p.html
    assert not p.is_auto_reply
    assert not p.is_list
    assert p.bounce is None
    assert p.pec is None
    assert p.attachments == []
    assert p.parse_warnings == []


def test_gmail_reply_en() -> None:
    p = load("gmail_reply_en.eml")
    assert p.sender == EmailAddress("Smith, John", "john.smith@example.com")
    assert p.cc == [
        EmailAddress("Jane Doe", "jane@example.com"),
        EmailAddress("", "ops@example.com"),
    ]
    assert p.references == ["<ticket-77-1@acme.example>", "<ticket-77-3@acme.example>"]
    assert p.date == datetime(2025, 2, 4, 14, 2, 11, tzinfo=UTC)
    assert p.visible_text == (
        'Hi,\n\nI still cannot log in, the reset link says "expired".\n\nThanks,\nJohn'
    )
    assert p.html is None
    assert p.conversation_number == 77


def test_outlook_reply_it_latin1_label_means_cp1252() -> None:
    p = load("outlook_reply_it.eml")
    assert p.subject == "R: [#2001] Preventivo"
    assert p.conversation_number == 2001
    assert "Il totale è 99 € + IVA." in p.text
    assert p.visible_text.endswith("Cordiali saluti\nLuca Bianchi\nUfficio Acquisti")
    assert "Inviato: lunedì" not in p.visible_text
    assert "Da: Supporto Acme" in p.text


def test_outlook_reply_en() -> None:
    p = load("outlook_reply_en.eml")
    assert p.sender == EmailAddress("Karen O'Neil", "karen.oneil@fabrikam.com")
    assert p.to == [EmailAddress("support@acme.example", "support@acme.example")]
    assert p.visible_text == "Please ship to our warehouse at 12 Harbour Rd instead.\n\nKaren"


def test_outlook_winmail_dat_is_kept() -> None:
    p = load("outlook_tnef.eml")
    assert p.text == "In allegato i documenti richiesti."
    [att] = p.attachments
    assert att.filename == "winmail.dat"
    assert att.content_type == "application/ms-tnef"
    assert att.data.startswith(b"\x78\x9f\x3e\x22")
    assert sha(att.data) == "5a765eceee7e3765695e163ade51d757f82cc22fb420aeb31fb32ce08a3f5c09"
    assert not att.inline


def test_apple_mail_body_split_around_inline_image() -> None:
    p = load("apple_mail_it.eml")
    assert p.text.startswith("Ecco la foto del pacco arrivato rotto:")
    assert "Grazie,\nGiulia" in p.visible_text
    assert "Può inviarci una foto" not in p.visible_text
    assert "> Può inviarci una foto del danno?" in p.text
    [img] = p.attachments
    assert img.filename == "IMG_0042.png"
    assert img.content_type == "image/png"
    assert img.inline
    assert img.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert sha(img.data) == "9dabe75de347550ea6fff0e1add74815f5ad66dcce43c7e4c655c09d4e388b9b"


def test_thunderbird_format_flowed_and_signature() -> None:
    p = load("thunderbird_it.eml")
    # format=flowed soft break joined back into one line
    assert p.visible_text == (
        "Va bene, spedisco il reso domani mattina con il corriere che mi avete "
        "indicato nella vostra ultima email."
    )
    assert "-- \nFranco Gallo" in p.text
    assert p.date == datetime(2025, 2, 8, 10, 12, tzinfo=CET)


def test_iphone_it() -> None:
    p = load("iphone_it.eml")
    assert p.visible_text == "Sì, domani sono a casa tutto il giorno."
    assert "Inviato da iPhone" in p.text
    assert "domani è disponibile per la consegna?" in p.text


def test_android_it() -> None:
    p = load("android_it.eml")
    assert p.visible_text == "Ok, grazie mille per il rimborso!"
    assert "il rimborso è stato emesso" in p.text


@pytest.mark.parametrize(
    ("name", "visible"),
    [
        ("outlook_android_en.eml", "Got it, thanks."),
        ("outlook_android_it.eml", "Ricevuta, grazie."),
    ],
)
def test_outlook_mobile(name: str, visible: str) -> None:
    p = load(name)
    assert p.visible_text == visible
    assert "________________________________" in p.text


def test_outlook_android_it_base64_body_is_decoded() -> None:
    p = load("outlook_android_it.eml")
    assert "Inviato: lunedì 10 febbraio 2025 11:00" in p.text


# --------------------------------------------------------------------------- HTML


def test_html_only_gives_readable_text() -> None:
    p = load("html_only.eml")
    assert p.text == (
        "Buongiorno,\n\nvorremmo sapere se i prodotti seguenti sono disponibili:\n\n"
        '- Sedia "Roma"\n- Tavolo & panca\n\nCodice Quantità\nA-12 4\n\n'
        "Catalogo: vedi catalogo <https://negozioverdi.it/catalogo>\n\nGrazie,\nNegozio Verdi"
    )
    assert p.html is not None
    assert "<title>" not in p.html
    assert "Titolo nascosto" not in p.html
    assert "p { color: red; }" not in p.html
    assert "<li>Tavolo &amp; panca</li>" in p.html


def test_html_script_and_handlers_are_removed() -> None:
    p = load("html_script.eml")
    assert p.html is not None
    lowered = p.html.lower()
    for bad in ("<script", "onerror", "onload", "javascript:", "<iframe", "<form", "<input"):
        assert bad not in lowered
    assert "document.cookie" not in p.html
    assert "position:fixed" not in p.html
    assert '<div style="color:red">avviso</div>' in p.html
    # remote images stay allowed
    assert 'src="https://tracker.example/pixel.gif"' in p.html
    assert 'href="https://acme.example/ok"' in p.html
    assert "document.location" not in p.text
    assert p.text.startswith("Ciao cliente")


def test_inline_cid_image() -> None:
    p = load("inline_cid.eml")
    assert p.text == "Here is our logo."
    assert p.html is not None
    assert 'src="cid:logo.png@01DB7D1E.2F3A4B50"' in p.html
    [logo] = p.attachments
    assert logo.content_id == "logo.png@01DB7D1E.2F3A4B50"
    assert logo.inline
    assert logo.filename == "logo.png"
    assert sha(logo.data) == "3b802fce8ed15904e7c3acb80e3c98397add8c2e2bc2663429d964b49672147f"


def test_bare_lf_line_endings() -> None:
    p = load("bare_lf.eml")
    assert p.text == "Riga uno\nRiga due"
    assert p.html == "<p>Riga uno<br>Riga due</p>"
    assert p.date == datetime(2025, 2, 22, 9, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- encodings


def test_rfc2231_italian_filenames() -> None:
    p = load("attachment_rfc2231.eml")
    names = [a.filename for a in p.attachments]
    assert names == [
        "Fattura n. 12 – perché è così.pdf",
        "Conferma d'ordine città.docx",
        "note di più.txt",
    ]
    assert sha(p.attachments[0].data) == PDF_SHA
    assert p.attachments[1].data == b"PK fake docx"
    assert p.attachments[2].data == b"nota allegata"
    assert p.attachments[2].content_type == "text/plain"
    assert p.text == "Vi invio i documenti."


def test_rfc2047_utf8_split_multibyte() -> None:
    p = load("subject_rfc2047_utf8.eml")
    assert p.subject == "Ordine n° 55 – è arrivato? 😀"
    assert p.sender == EmailAddress("Nicolò Ferrari", "nicolo.ferrari@example.it")
    assert p.parse_warnings == []


def test_rfc2047_iso_8859_1() -> None:
    p = load("subject_rfc2047_latin1.eml")
    assert p.subject == "Conferma d'ordine – città di Forlì"
    assert p.sender is not None
    assert p.sender.name == "Nicolò Esposito"
    assert p.text == "Città: Forlì"


def test_rfc2047_malformed() -> None:
    p = load("subject_malformed.eml")
    assert p.sender == EmailAddress("José", "jose@example.es")
    assert p.subject == "perchéBuon giorno fine"
    assert any("subject" in w and "cp1252" in w for w in p.parse_warnings)


def test_missing_charset_latin1_bytes() -> None:
    p = load("missing_charset_latin1.eml")
    assert p.text == "Perché non è ancora arrivato? Città: Cantù."
    assert p.parse_warnings == ["text/plain: no charset declared, decoded as cp1252"]


def test_declared_utf8_but_cp1252() -> None:
    p = load("wrong_charset.eml")
    assert p.text == "Il prezzo “finale” è 50 € – giusto?"
    assert p.parse_warnings == ["text/plain: content is not valid utf-8, decoded as cp1252"]


def test_unknown_charset() -> None:
    p = load("unknown_charset.eml")
    assert p.text == "Qualità garantita, però è caro."
    assert p.parse_warnings == ["text/plain: unknown charset x-foo, decoded as cp1252"]


def test_uuencoded_block_extracted() -> None:
    p = load("uuencoded.eml")
    assert "begin 644" not in p.text
    assert p.text.startswith("Ecco la ricevuta in allegato.")
    assert p.text.endswith("Saluti")
    [att] = p.attachments
    assert att.filename == "ricevuta.txt"
    assert att.content_type == "text/plain"
    assert att.data == b"Ricevuta di pagamento n. 8812\nImporto: 42,00 EUR\n"


def test_forwarded_message_kept_as_eml() -> None:
    p = load("forwarded_rfc822.eml")
    assert p.text == "Vi inoltro la mail del corriere."
    [fwd] = p.attachments
    assert fwd.filename == "Ordine 5531.eml"
    assert fwd.content_type == "message/rfc822"
    inner = parse_message(fwd.data)
    assert inner.message_id == "<spedizione-5531@corriereveloce.it>"
    assert inner.text == "La spedizione 5531 è in consegna."
    [pdf] = inner.attachments
    assert pdf.filename == "lettera_vettura.pdf"
    assert sha(pdf.data) == PDF_SHA


# --------------------------------------------------------------------------- bounces


def test_dsn_permanent() -> None:
    p = load("dsn_permanent.eml")
    assert p.bounce == BounceInfo(
        original_message_id="<ticket-2500-4@acme.it>",
        recipient="nessuno@example.com",
        status="5.1.1",
        action="failed",
        diagnostic="550 5.1.1 <nessuno@example.com>: Recipient address rejected: User unknown",
        permanent=True,
    )
    assert p.is_auto_reply
    assert p.text.startswith("This is the mail system at host mx.acme.it.")


def test_dsn_temporary() -> None:
    p = load("dsn_temporary.eml")
    assert p.bounce == BounceInfo(
        original_message_id="<ticket-2600-2@acme.it>",
        recipient="lento@example.net",
        status="4.4.7",
        action="delayed",
        diagnostic="421 4.4.7 Try again later",
        permanent=False,
    )
    [original] = p.attachments
    assert original.content_type == "message/rfc822"
    assert parse_message(original.data).message_id == "<ticket-2600-2@acme.it>"


def test_exchange_style_non_dsn_bounce() -> None:
    p = load("exchange_ndr.eml")
    assert p.bounce is not None
    assert p.bounce.permanent
    assert p.bounce.status == "5.1.10"
    assert p.bounce.recipient == "luigi.verdi@contoso.it"
    assert p.bounce.original_message_id == "<ticket-2700-1@acme.it>"
    assert p.bounce.diagnostic is not None
    assert "RecipientNotFound" in p.bounce.diagnostic
    assert p.conversation_number == 2700


def test_regular_mail_is_not_a_bounce() -> None:
    assert load("outlook_reply_en.eml").bounce is None


def test_heuristic_bounce_delay_without_status() -> None:
    raw = mail(
        "From: MAILER-DAEMON@mx.example.org\nTo: a@acme.it\nSubject: Warning: message delayed\n"
        "Message-ID: <d1@mx.example.org>",
        "Your message to bob@example.net could not be delivered yet. Will retry for 4 days.\n",
    )
    bounce = parse_message(raw).bounce
    assert bounce is not None
    assert not bounce.permanent
    assert bounce.status is None
    assert bounce.recipient == "bob@example.net"


# --------------------------------------------------------------------------- auto replies / lists


def test_out_of_office_it_by_subject() -> None:
    p = load("ooo_it.eml")
    assert p.is_auto_reply
    assert not p.is_list
    assert p.conversation_number == 2800


def test_out_of_office_en_by_headers() -> None:
    p = load("ooo_en.eml")
    assert p.is_auto_reply
    assert p.conversation_number == 2900


def test_mailing_list() -> None:
    p = load("mailing_list.eml")
    assert p.is_list
    assert p.is_auto_reply  # Precedence: list


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Auto-Submitted: auto-replied", True),
        ("Auto-Submitted: no", False),
        ("X-Autoreply: yes", True),
        ("X-Autorespond: vacation", True),
        ("Precedence: bulk", True),
        ("Precedence: junk", True),
        ("Precedence: auto_reply", True),
        ("Precedence: first-class", False),
        ("X-Auto-Response-Suppress: OOF, AutoReply", True),
        ("X-Auto-Response-Suppress: All", True),
        ("X-Auto-Response-Suppress: DR, RN, NRN", False),
        ("X-Mailer: Thunderbird", False),
    ],
)
def test_auto_reply_headers(header: str, expected: bool) -> None:
    raw = mail(f"From: a@example.it\nTo: b@acme.it\nSubject: Ciao\n{header}")
    assert parse_message(raw).is_auto_reply is expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Risposta automatica: Ordine 12", True),
        ("Fuori sede fino al 3 marzo", True),
        ("Out of Office: Re: order", True),
        ("Automatic reply: Invoice", True),
        ("Autoreply: ticket", True),
        ("Re: [#5] Ordine sede centrale", False),
        ("Ufficio chiuso? No, aperto", False),
    ],
)
def test_auto_reply_subjects(subject: str, expected: bool) -> None:
    raw = mail(f"From: a@example.it\nTo: b@acme.it\nSubject: {subject}")
    assert parse_message(raw).is_auto_reply is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("List-Id: <dev.lists.example.org>", True),
        ("List-Unsubscribe: <mailto:leave@example.org>", True),
        ("Precedence: list", True),
        ("Precedence: bulk", False),
        ("X-Mailer: Outlook", False),
    ],
)
def test_is_list(header: str, expected: bool) -> None:
    raw = mail(f"From: a@example.it\nTo: b@acme.it\nSubject: Ciao\n{header}")
    assert parse_message(raw).is_list is expected


# --------------------------------------------------------------------------- PEC


def test_pec_accettazione() -> None:
    p = load("pec_accettazione.eml")
    assert p.pec == PecReceipt("accettazione", "<ticket-3000-1@acme.it>", None)
    assert p.bounce is None
    assert p.is_auto_reply
    assert p.text.startswith("Ricevuta di accettazione")
    assert "Il messaggio è stato accettato dal sistema ed inoltrato." in p.text
    assert [a.filename for a in p.attachments] == ["daticert.xml"]
    assert b'tipo="accettazione"' in p.attachments[0].data
    assert p.conversation_number == 3000


def test_pec_avvenuta_consegna() -> None:
    p = load("pec_avvenuta_consegna.eml")
    assert p.pec == PecReceipt("avvenuta-consegna", "<ticket-3000-1@acme.it>", True)
    assert [a.filename for a in p.attachments] == ["daticert.xml", "postacert.eml"]
    assert parse_message(p.attachments[1].data).message_id == "<ticket-3000-1@acme.it>"


def test_pec_errore_consegna() -> None:
    p = load("pec_errore_consegna.eml")
    assert p.pec == PecReceipt("errore-consegna", "<ticket-3000-1@acme.it>", False)
    assert p.bounce is None
    assert "5.1.1 - Utente sconosciuto" in p.text


def test_pec_envelope_is_unwrapped() -> None:
    p = load("pec_envelope.eml")
    assert p.pec is None
    assert p.message_id == "<customer-msg-1@pec.example.it>"
    assert p.subject == "Reclamo formale"
    assert p.sender == EmailAddress("Cliente Pec", "cliente@pec.example.it")
    assert p.text == "Con la presente presento reclamo formale per la fornitura n. 77."
    assert "Messaggio di posta certificata" not in p.text
    assert [a.filename for a in p.attachments] == ["reclamo.pdf", "daticert.xml"]
    assert sha(p.attachments[0].data) == PDF_SHA
    assert b'tipo="posta-certificata"' in p.attachments[1].data
    assert not p.is_auto_reply


# --------------------------------------------------------------------------- headers


def test_missing_message_id_is_synthetic_and_deterministic() -> None:
    raw = (CORPUS / "no_message_id.eml").read_bytes()
    p = parse_message(raw)
    assert p.message_id == f"<{hashlib.sha256(raw).hexdigest()}@sportello.invalid>"
    assert parse_message(raw).message_id == p.message_id
    assert parse_message(raw + b"x").message_id != p.message_id


def test_no_date() -> None:
    p = load("no_date.eml")
    assert p.date is None
    assert p.parse_warnings == []


def test_broken_date() -> None:
    p = load("broken_date.eml")
    assert p.date is None
    assert p.parse_warnings == ["unparseable Date header: 'lunedì prossimo, forse'"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 3 Feb 2025 10:00:00 +0100", datetime(2025, 2, 3, 9, 0, tzinfo=UTC)),
        ("3 Feb 2025 10:00:00 GMT", datetime(2025, 2, 3, 10, 0, tzinfo=UTC)),
        ("Mon, 3 Feb 2025 10:00:00 -0000", datetime(2025, 2, 3, 10, 0, tzinfo=UTC)),
        ("Mon, 3 Feb 2025 10:00:00 +0100 (CET)", datetime(2025, 2, 3, 9, 0, tzinfo=UTC)),
        ("2025-02-03T10:00:00+01:00", datetime(2025, 2, 3, 9, 0, tzinfo=UTC)),
    ],
)
def test_dates_are_tz_aware(value: str, expected: datetime) -> None:
    p = parse_message(mail(f"From: a@example.it\nSubject: x\nDate: {value}"))
    assert p.date == expected
    assert p.date is not None
    assert p.date.tzinfo is not None


def test_subject_tag_with_many_prefixes() -> None:
    p = load("subject_tag_prefixes.eml")
    assert p.subject == "Re: R: Fwd: I: [#1042] Spedizione non arrivata"
    assert p.conversation_number == 1042


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[#1042] Problema", 1042),
        ("Re: R: Fwd: I: [#1042] Spedizione", 1042),
        ("RE: [ #77 ] spazi", 77),
        ("Ordine #1042 senza parentesi", None),
        ("[1042] senza cancelletto", None),
        ("", None),
        ("[#12] prima [#34] seconda", 12),
    ],
)
def test_extract_conversation_number(subject: str, expected: int | None) -> None:
    assert extract_conversation_number(subject) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@example.it>", "<abc@example.it>"),
        ("  <abc@example.it>  ", "<abc@example.it>"),
        ("abc@example.it", "<abc@example.it>"),
        ("<abc@example.it> (comment)", "<abc@example.it>"),
        ("(comment) <abc@\r\n example.it>", "<abc@example.it>"),
        ("<first@x> <second@x>", "<first@x>"),
        ("", None),
        ("   ", None),
        ("<>", None),
    ],
)
def test_normalise_message_id(value: str, expected: str | None) -> None:
    assert normalise_message_id(value) == expected


def test_references_without_brackets_and_folded() -> None:
    raw = mail(
        "From: a@example.it\nSubject: x\nIn-Reply-To: one@example.it\n"
        "References: <a@x.it>\n\t<b@x.it> <a@x.it>"
    )
    p = parse_message(raw)
    assert p.in_reply_to == ["<one@example.it>"]
    assert p.references == ["<a@x.it>", "<b@x.it>"]


def test_address_edge_cases() -> None:
    raw = mail(
        "From: Mario Rossi <mario.rossi@EXAMPLE.IT\n"
        "To: undisclosed-recipients:;\n"
        "Cc: =?utf-8?q?Bianchi=2C_Anna?= <Anna@Example.It>, a@b.it, A@B.IT\n"
        'Reply-To: "Supporto" <help@Acme.IT>\n'
        "Subject: x"
    )
    p = parse_message(raw)
    assert p.sender == EmailAddress("Mario Rossi", "mario.rossi@example.it")
    assert p.to == []
    assert p.cc == [EmailAddress("Bianchi, Anna", "Anna@example.it"), EmailAddress("", "a@b.it")]
    assert p.reply_to == [EmailAddress("Supporto", "help@acme.it")]


def test_raw_8bit_headers_are_decoded() -> None:
    raw = b"From: Nicol\xc3\xb2 <n@example.it>\r\nSubject: Citt\xe0 \xe8 bella\r\n\r\nciao\r\n"
    p = parse_message(raw)
    assert p.sender == EmailAddress("Nicolò", "n@example.it")
    assert p.subject == "Città è bella"


# --------------------------------------------------------------------------- robustness


def test_truncated_mime_missing_closing_boundary() -> None:
    p = load("truncated_mime.eml")
    assert p.text == "Il testo c'è ma l'allegato è tagliato."
    [att] = p.attachments
    assert att.filename == "tagliato.pdf"
    assert len(att.data) > 150
    assert (PDF * 20).startswith(att.data)
    assert "missing closing MIME boundary (truncated message?)" in p.parse_warnings


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n", b"just some words, no headers at all"])
def test_not_mail_raises(raw: bytes) -> None:
    with pytest.raises(EmailParseError):
        parse_message(raw)


def test_binary_garbage_raises_parse_error() -> None:
    with pytest.raises(EmailParseError):
        parse_message(bytes(range(256)) * 4)


def test_mbox_from_line_is_skipped() -> None:
    raw = b"From mario@example.it Mon Feb  3 10:00:00 2025\n" + mail(
        "From: mario@example.it\nSubject: mbox\nMessage-ID: <m@x>"
    )
    p = parse_message(raw)
    assert p.subject == "mbox"
    assert p.message_id == "<m@x>"


def test_multipart_without_boundary_is_read_as_text() -> None:
    raw = mail(
        "From: a@example.it\nSubject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed",
        "solo testo\n",
    )
    p = parse_message(raw)
    assert "solo testo" in p.text
    assert p.parse_warnings


def test_unknown_8bit_in_quoted_printable_part() -> None:
    raw = mail(
        "From: a@example.it\nSubject: x\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable",
        "caff=C3=A8 e t\xe8".encode("latin-1"),
    )
    # "è" as a valid QP escape plus a raw cp1252 byte: mixed content, both readable
    p = parse_message(raw)
    assert p.text == "caffè e tè"
    assert p.parse_warnings == ["text/plain: content is not valid utf-8, decoded as utf-8+cp1252"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.sampled_from(["text/plain", "multipart/mixed", "text/html"]))
def test_never_raises_on_garbage_bodies(body: bytes, ctype: str) -> None:
    head = (
        "From: =?x-foo?q?=E9?= <a@b.it>\r\nSubject: =?utf-8?b?zz?= [#1]\r\n"
        f'Content-Type: {ctype}; charset="utf-8"; boundary="b"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    p = parse_message(head + body)
    assert p.message_id.endswith("@sportello.invalid>")
    assert p.conversation_number == 1


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=1, max_size=400))
def test_never_raises_except_parse_error(raw: bytes) -> None:
    try:
        p = parse_message(b"Subject: x\r\n" + raw)
    except EmailParseError:  # pragma: no cover - headers are always present here
        pytest.fail("a message with a header must parse")
    assert isinstance(p.text, str)


# --------------------------------------------------------------------------- large messages


def _big_message(
    data: bytes, *, linesep: bytes = b"\r\n", ctype: bytes = b"application/zip"
) -> bytes:
    encoded = base64.encodebytes(data).replace(b"\n", linesep)
    lines = [
        b"From: a@example.it",
        b"Subject: grande",
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="BB"',
        b"",
        b"--BB",
        b"Content-Type: text/plain; charset=utf-8",
        b"",
        b"testo",
        b"--BB",
        b"Content-Type: " + ctype + b"; name=archivio.zip",
        b"Content-Transfer-Encoding: base64",
        b"",
    ]
    return linesep.join(lines) + linesep + encoded + b"--BB--" + linesep


@pytest.mark.parametrize("linesep", [b"\r\n", b"\n"])
def test_large_base64_attachment_roundtrip(linesep: bytes) -> None:
    data = random.Random(7).randbytes(3_000_000)
    p = parse_message(_big_message(data, linesep=linesep))
    assert p.text == "testo"
    [att] = p.attachments
    assert att.filename == "archivio.zip"
    assert att.data == data


def test_large_attachment_inside_forwarded_message() -> None:
    data = random.Random(8).randbytes(400_000)
    inner = _big_message(data)
    raw = mail(
        "From: b@example.it\nSubject: fwd\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="OO"',
        b"--OO\r\nContent-Type: text/plain\r\n\r\nvedi sotto\r\n--OO\r\n"
        b"Content-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--OO--\r\n",
    )
    p = parse_message(raw)
    [fwd] = p.attachments
    assert fwd.filename == "grande.eml"
    assert parse_message(fwd.data).attachments[0].data == data


def test_large_base64_looking_text_body_is_not_lost() -> None:
    block = b"\r\n".join([b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="] * 8000) + b"\r\n"
    raw = mail("From: a@example.it\nSubject: x\nContent-Type: text/plain", b"inizio\r\n" + block)
    p = parse_message(raw)
    assert p.text.startswith("inizio\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=")
    assert p.text.count("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=") == 8000


# --------------------------------------------------------------------------- helpers


def test_decode_header_value() -> None:
    warnings: list[str] = []
    assert decode_header_value("=?utf-8?q?caff=C3=A8?= =?utf-8?q?_latte?=", warnings) == (
        "caffè latte"
    )
    assert decode_header_value("Re: =?ISO-8859-1?Q?Citt=E0?=\r\n (centro)", warnings) == (
        "Re: Città (centro)"
    )
    assert decode_header_value("plain text", warnings) == "plain text"
    assert warnings == []


def test_decode_bytes_chain() -> None:
    warnings: list[str] = []
    assert decode_bytes("perché".encode(), "iso-8859-1", warnings, "t") == "perché"
    assert warnings == ["t: declared iso-8859-1 but content is utf-8"]
    assert decode_bytes("Привет, как дела? Всё хорошо.".encode("cp1251"), None, [], "t") == (
        "Привет, как дела? Всё хорошо."
    )
    # bytes undefined in cp1252 go through detection and still decode, with a warning
    warnings = []
    assert len(decode_bytes(b"\x81\x8d\x8f\x90\x9d", "utf-8", warnings, "t")) == 5
    assert warnings and warnings[0].startswith("t: content is not valid utf-8, decoded as ")
    assert decode_bytes("日本語のテキストです。".encode("shift_jis"), "shift_jis", [], "t") == (
        "日本語のテキストです。"
    )


def test_html_to_text_blockquote_lists_pre() -> None:
    html = (
        "<div>Ciao<br>Mario</div><blockquote><p>vecchio</p><blockquote>più vecchio</blockquote>"
        "</blockquote><ol><li>uno</li><li>due</li></ol><pre>  a\n  b</pre>"
        "<script>x()</script><p>&egrave; &amp; &lt;ok&gt;</p>"
    )
    assert html_to_text(html) == (
        "Ciao\nMario\n\n> vecchio\n>\n>> più vecchio\n\n1. uno\n2. due\n\n  a\n  b\n\nè & <ok>"
    )


def test_sanitise_html_keeps_cid_and_drops_data_js() -> None:
    out = sanitise_html(
        '<img src="cid:a@b"><a href="JaVaScRiPt:alert(1)">x</a>'
        '<a href="mailto:a@b.it">m</a><svg onload="x()"></svg>'
    )
    assert 'src="cid:a@b"' in out
    assert "javascript" not in out.lower()
    assert 'href="mailto:a@b.it"' in out
    assert "onload" not in out


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.eml")), ids=lambda p: p.name)
def test_truncated_and_mangled_corpus_never_raises(path: Path) -> None:
    raw = path.read_bytes()
    rnd = random.Random(path.name)
    variants = [raw[: len(raw) * i // 10] for i in range(3, 10)]
    for _ in range(5):
        mangled = bytearray(raw)
        for _ in range(10):
            mangled[rnd.randrange(len(mangled))] = rnd.randrange(256)
        variants.append(bytes(mangled))
    variants.append(raw.replace(b"\r\n", b"\r"))
    for variant in variants:
        try:
            parsed = parse_message(variant)
        except EmailParseError:
            continue
        assert parsed.message_id.startswith("<")


def test_pathologically_deep_nesting_degrades() -> None:
    raw = b"From: a@b.it\r\nSubject: deep\r\nMessage-ID: <deep@b.it>\r\n"
    for i in range(3000):
        raw += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
    raw += b"Content-Type: text/plain\r\n\r\nfondo\r\n"
    p = parse_message(raw)
    assert p.message_id == "<deep@b.it>"
    assert p.subject == "deep"
    assert p.parse_warnings == ["MIME structure nested too deeply, body not parsed"]


def test_empty_plain_alternative_falls_back_to_html() -> None:
    raw = mail(
        "From: a@example.it\nSubject: x\nMIME-Version: 1.0\n"
        'Content-Type: multipart/alternative; boundary="A"',
        b"--A\r\nContent-Type: text/plain\r\n\r\n \r\n--A\r\nContent-Type: text/html\r\n\r\n"
        b"<p>Solo <b>HTML</b></p>\r\n--A--\r\n",
    )
    p = parse_message(raw)
    assert p.text == "Solo HTML"
    assert p.html == "<p>Solo <b>HTML</b></p>"


def test_read_receipt_mdn_is_automatic_but_not_a_bounce() -> None:
    raw = mail(
        "From: Mario <mario@example.it>\nSubject: Letto: [#9] Ordine\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="R"',
        b"--R\r\nContent-Type: text/plain\r\n\r\nIl messaggio e' stato letto.\r\n"
        b"--R\r\nContent-Type: message/disposition-notification\r\n\r\n"
        b"Final-Recipient: rfc822; mario@example.it\r\n"
        b"Disposition: manual-action/MDN-sent-manually; displayed\r\n\r\n--R--\r\n",
    )
    p = parse_message(raw)
    assert p.is_auto_reply
    assert p.bounce is None
    assert p.text == "Il messaggio e' stato letto."
    assert p.conversation_number == 9
