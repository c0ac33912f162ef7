"""Tests for sportello.channels.email.quotes.split_reply."""

from __future__ import annotations

import pytest

from sportello.channels.email.quotes import split_reply


def test_gmail_en() -> None:
    text = (
        "Thanks, that worked.\n\n"
        "On Mon, 3 Feb 2025 at 10:00, Acme Support <support@acme.example> wrote:\n\n"
        "> Please try again.\n"
    )
    visible, folded = split_reply(text)
    assert visible == "Thanks, that worked."
    assert folded.startswith("On Mon, 3 Feb 2025 at 10:00")
    assert folded.endswith("> Please try again.")


def test_gmail_it_single_line() -> None:
    text = (
        "Perfetto, grazie.\n\n"
        "Il giorno lun 3 feb 2025 alle ore 10:00 Mario <m@x.it> ha scritto:\n"
        "> testo\n"
    )
    assert split_reply(text) == (
        "Perfetto, grazie.",
        "Il giorno lun 3 feb 2025 alle ore 10:00 Mario <m@x.it> ha scritto:\n> testo",
    )


@pytest.mark.parametrize(
    "attribution",
    [
        "Il giorno lun 3 feb 2025 alle ore 10:00 Mario Rossi <\n"
        "mario.rossi@example.it> ha scritto:",
        "Il giorno lun 3 feb 2025 alle ore 10:00 Mario Rossi\n<mario.rossi@example.it> ha\n"
        "scritto:",
        "On Mon, Feb 3, 2025 at 10:00 AM Supporto Acme Servizio Clienti <\n"
        "supporto@acme.it> wrote:",
    ],
)
def test_gmail_line_wrapped_attribution(attribution: str) -> None:
    text = f"Risposta nuova.\n\n{attribution}\n\n> vecchio\n> testo\n"
    visible, folded = split_reply(text)
    assert visible == "Risposta nuova."
    assert folded.startswith(attribution.split("\n")[0])
    assert folded.endswith("> testo")


def test_apple_mail_it() -> None:
    text = (
        "Va bene.\n\n"
        "Il giorno 3 feb 2025, alle ore 10:00, Mario <mario@example.it> ha scritto:\n\n"
        "> Domanda?\n"
    )
    assert split_reply(text)[0] == "Va bene."


def test_thunderbird_it() -> None:
    text = "Confermo.\n\nIl 03/02/2025 10:00, Mario ha scritto:\n> Confermi?\n"
    assert split_reply(text) == ("Confermo.", "Il 03/02/2025 10:00, Mario ha scritto:\n> Confermi?")


def test_outlook_original_message_en() -> None:
    text = (
        "New text.\n\n-----Original Message-----\nFrom: A <a@x.com>\nSent: Monday\n"
        "To: B\nSubject: Hi\n\nOld text\n"
    )
    visible, folded = split_reply(text)
    assert visible == "New text."
    assert folded.startswith("-----Original Message-----")
    assert folded.endswith("Old text")


def test_outlook_original_message_it() -> None:
    text = "Nuovo.\n\n-----Messaggio originale-----\nDa: A\nInviato: lunedì\nVecchio\n"
    assert split_reply(text)[0] == "Nuovo."


def test_outlook_header_block_it_without_separator() -> None:
    text = (
        "Ok grazie.\n\n"
        "Da: Supporto Acme <supporto@acme.it>\n"
        "Inviato: lunedì 3 febbraio 2025 10:00\n"
        "A: Mario Rossi <mario@example.it>\n"
        "Oggetto: [#1042] Fattura\n\n"
        "Gentile Mario\n"
    )
    visible, folded = split_reply(text)
    assert visible == "Ok grazie."
    assert folded.startswith("Da: Supporto Acme")


def test_outlook_header_block_bold_from_html() -> None:
    text = "Ok.\n\n**From:** Acme <a@acme.example>\n**Sent:** Monday\n**To:** Bob\n\nold\n"
    assert split_reply(text)[0] == "Ok."


def test_outlook_underscore_separator_is_folded() -> None:
    text = (
        "Fatto.\n\n________________________________\nFrom: A <a@x.com>\nSent: Monday\n"
        "To: B\nSubject: x\n\nold\n"
    )
    visible, folded = split_reply(text)
    assert visible == "Fatto."
    assert folded.startswith("________________________________")


def test_single_from_line_is_not_a_header_block() -> None:
    text = "Da: lunedì sarò in ufficio.\nA presto\n"
    assert split_reply(text) == ("Da: lunedì sarò in ufficio.\nA presto", "")


@pytest.mark.parametrize(
    "signature",
    [
        "Inviato da iPhone",
        "Inviato da il mio iPhone",
        "Inviato dal mio dispositivo Android",
        "Inviato dal mio Samsung Galaxy",
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Get Outlook for Android",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Scarica Outlook per Android",
        "Sent from Outlook for Android",
    ],
)
def test_mobile_signatures(signature: str) -> None:
    visible, folded = split_reply(f"Arrivo alle 10.\n\n{signature}\n")
    assert visible == "Arrivo alle 10."
    assert folded == signature


def test_mobile_signature_phrase_inside_a_sentence_is_kept() -> None:
    text = "Ho inviato da iPhone la foto, l'avete ricevuta?"
    assert split_reply(text) == (text, "")


def test_dash_dash_space_signature() -> None:
    text = "Corpo del messaggio.\n\n-- \nMario Rossi\nTel. 333 1234567\n"
    assert split_reply(text) == ("Corpo del messaggio.", "-- \nMario Rossi\nTel. 333 1234567")


def test_double_dash_inside_text_is_not_a_signature() -> None:
    text = "Prezzo -- scontato -- 10 euro\n--- fine ---"
    assert split_reply(text) == (text, "")


def test_trailing_quote_without_attribution() -> None:
    text = "Sì.\n\n> Confermi l'ordine?\n> Grazie\n"
    assert split_reply(text) == ("Sì.", "> Confermi l'ordine?\n> Grazie")


def test_interleaved_reply_keeps_inner_quotes() -> None:
    text = "> Domanda uno?\nRisposta uno.\n> Domanda due?\nRisposta due.\n"
    visible, folded = split_reply(text)
    assert visible == "Risposta uno.\n> Domanda due?\nRisposta due."
    assert folded == "> Domanda uno?"


def test_bottom_posted_reply_with_attribution() -> None:
    text = (
        "On Mon, 3 Feb 2025, Bob <b@x.com> wrote:\n> Can you call me?\n\n"
        "Yes, tomorrow at 9.\n\n-- \nAlice\n"
    )
    visible, folded = split_reply(text)
    assert visible == "Yes, tomorrow at 9."
    assert "> Can you call me?" in folded
    assert folded.endswith("Alice")


def test_only_quoted_history_keeps_everything_visible() -> None:
    text = "---------- Forwarded message ---------\nDa: A <a@x.it>\nOggetto: x\n\ncontenuto\n"
    visible, folded = split_reply(text)
    assert "contenuto" in visible
    assert folded == ""
    text2 = "> solo citazione\n"
    assert split_reply(text2) == ("> solo citazione", "")


def test_empty_and_plain() -> None:
    assert split_reply("") == ("", "")
    assert split_reply("Solo testo.\nDue righe.") == ("Solo testo.\nDue righe.", "")


def test_crlf_input() -> None:
    text = "Ok.\r\n\r\nOn Tue, X <x@y.z> wrote:\r\n> a\r\n"
    assert split_reply(text) == ("Ok.", "On Tue, X <x@y.z> wrote:\n> a")


def test_quoted_attribution_ios_style() -> None:
    text = (
        "Sì.\n\nInviato da iPhone\n\n"
        "> Il giorno 9 feb 2025, alle ore 18:00, Supporto <s@acme.it> ha scritto:\n>\n> Domani?\n"
    )
    visible, folded = split_reply(text)
    assert visible == "Sì."
    assert folded.startswith("Inviato da iPhone")
    assert folded.endswith("> Domani?")


def test_wrote_line_without_quote_or_opening_word_is_text() -> None:
    text = "Mario wrote:\nthe report is ready"
    assert split_reply(text) == (text, "")


def test_forwarded_content_after_a_note_stays_visible() -> None:
    text = (
        "Vedi sotto, grazie.\n\n---------- Forwarded message ---------\n"
        "Da: Corriere <c@x.it>\nDate: lun 3 feb 2025\nSubject: Spedizione\n\n"
        "Il pacco è in consegna.\n-- \nCorriere Veloce\n"
    )
    visible, folded = split_reply(text)
    assert visible == text.strip()
    assert folded == ""


def test_prose_ending_in_ha_scritto_is_not_an_attribution() -> None:
    text = "Buongiorno,\nIl tecnico mi ha scritto:\nil pezzo arriva lunedì.\nÈ corretto?"
    assert split_reply(text) == (text, "")


def test_thunderbird_attribution_without_following_quote_uses_date() -> None:
    text = "Nuovo testo.\n\nIl 03/02/2025 10:00, Mario ha scritto:\nvecchio testo non citato\n"
    assert split_reply(text)[0] == "Nuovo testo."
