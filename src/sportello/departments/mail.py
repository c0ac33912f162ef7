"""The texts of the mails to colleagues, in the mailbox's language (the recipients are people
of the company, not users with a language of their own)."""

from __future__ import annotations

from typing import Any

TEMPLATES: dict[str, dict[str, str]] = {
    "it": {
        "from_conversation": "Dalla conversazione #{number} con un cliente (scrive {author}).",
        "quoted": "Messaggi citati dalla conversazione:",
        "files": "Allegati citati:",
        "answer": "Risponda a questa email: la risposta arriva al servizio clienti.",
        "sales": "Opportunità di vendita",
        "technical": "Problema tecnico",
        "other": "Segnalazione",
        "customer": "Cliente",
        "contacts": "Recapiti",
        "last": "Ultimi messaggi",
        "summary": "Riepilogo",
        "outcome": "Indichi l'esito qui (non serve un account):",
        "conversation": "Conversazione (per il servizio clienti)",
        "customer_word": "cliente",
        "agent_word": "operatore",
    },
    "en": {
        "from_conversation": "From conversation #{number} with a customer (written by {author}).",
        "quoted": "Messages quoted from the conversation:",
        "files": "Files quoted:",
        "answer": "Reply to this email: your answer reaches customer service.",
        "sales": "Sales opportunity",
        "technical": "Technical problem",
        "other": "Hand-off",
        "customer": "Customer",
        "contacts": "Contacts",
        "last": "Last messages",
        "summary": "Summary",
        "outcome": "Set the outcome here (no account needed):",
        "conversation": "Conversation (for customer service)",
        "customer_word": "customer",
        "agent_word": "agent",
    },
}


def _t(language: str) -> dict[str, str]:
    return TEMPLATES.get(language, TEMPLATES["it"])


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines())


def side_text(*, language: str, author: str, text: str, number: int, quoted: dict[str, Any]) -> str:
    t = _t(language)
    lines = [text, "", "--", t["from_conversation"].format(number=number, author=author)]
    messages = quoted.get("messages") or []
    if messages:
        lines += ["", t["quoted"]]
        for m in messages:
            lines += ["", f"{m.get('who', '')} ({str(m.get('at', ''))[:16].replace('T', ' ')}):"]
            lines.append(_quote(str(m.get("text", ""))))
    files = quoted.get("attachments") or []
    if files:
        lines += ["", t["files"] + " " + ", ".join(str(f["filename"]) for f in files)]
    lines += ["", t["answer"]]
    return "\n".join(lines)


def handoff_mail(
    *,
    language: str,
    department: str,
    kind: str,
    summary: str,
    context: dict[str, Any],
    link: str,
    conversation_url: str,
) -> tuple[str, str]:
    t = _t(language)
    customer = context.get("customer", {})
    conv = context.get("conversation", {})
    name = customer.get("name") or "—"
    subject = f"[{department}] {t.get(kind, t['other'])}: {name} ({conv.get('number', '')})"
    lines = [
        f"{t['summary']}:",
        summary,
        "",
        f"{t['customer']}: {name}",
    ]
    contacts = customer.get("contacts") or []
    if contacts:
        lines.append(f"{t['contacts']}: " + ", ".join(str(c["value"]) for c in contacts))
    messages = context.get("messages") or []
    if messages:
        lines += ["", f"{t['last']}:"]
        for m in messages:
            who = (
                m.get("who")
                or t["customer_word" if m.get("direction") == "inbound" else "agent_word"]
            )
            lines += ["", f"{who} ({str(m.get('at', ''))[:16].replace('T', ' ')}):"]
            lines.append(_quote(str(m.get("text", ""))))
    lines += ["", t["outcome"], link, "", f"{t['conversation']}: {conversation_url}"]
    return subject, "\n".join(lines)
