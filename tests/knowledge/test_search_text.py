"""Italian normalisation for search: the Snowball stop list, elisions, inflections."""

from __future__ import annotations

from sportello.knowledge import text


def test_auxiliary_verb_forms_are_stop_words():
    # forms of avere, essere, fare, stare (the Snowball Italian stop list) carry no topic
    assert text.content_words("avrebbero fatto la spedizione", "it") == ["spedizione"]
    assert text.content_words("stavano facendo il reso", "it") == ["reso"]


def test_elisions_and_inflections_meet_on_the_same_stem():
    assert text.terms("dell'ordine", "it") == text.terms("gli ordini", "it")
    assert text.terms("all'indirizzo", "it") == text.terms("indirizzi", "it")
