"""Approved message templates as the Graph API lists them (``GET /{waba-id}/message_templates``
with ``fields=name,language,status,components``), one a kind of component, shaped as Meta's
template-components reference documents them (the examples Meta requires at creation included)."""

from __future__ import annotations

from typing import Any


def approved(name: str, *components: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "language": extra.pop("language", "it"),
        "status": "APPROVED",
        "category": extra.pop("category", "UTILITY"),
        "id": f"id-{name}",
        "components": list(components),
        **extra,
    }


# A text header with a positional parameter, a URL button whose link ends with a variable and
# a phone-number button.
SHIPPED = approved(
    "spedizione",
    {
        "type": "HEADER",
        "format": "TEXT",
        "text": "Ordine {{1}} spedito",
        "example": {"header_text": ["5521"]},
    },
    {
        "type": "BODY",
        "text": "Ciao {{1}}, il pacco arriva {{2}}.",
        "example": {"body_text": [["Mario", "domani"]]},
    },
    {"type": "FOOTER", "text": "Negozio Rossi"},
    {
        "type": "BUTTONS",
        "buttons": [
            {
                "type": "URL",
                "text": "Traccia il pacco",
                "url": "https://negozio.example/traccia/{{1}}",
                "example": ["https://negozio.example/traccia/AB123"],
            },
            {"type": "PHONE_NUMBER", "text": "Chiamaci", "phone_number": "+390212345678"},
        ],
    },
    parameter_format="POSITIONAL",
)

# An image header, two quick replies and a fixed link.
SALE = approved(
    "saldi",
    {
        "type": "HEADER",
        "format": "IMAGE",
        "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:ARb"]},
    },
    {
        "type": "BODY",
        "text": "Saldi fino al {{1}}!",
        "example": {"body_text": [["31 agosto"]]},
    },
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "QUICK_REPLY", "text": "Mi interessa"},
            {"type": "QUICK_REPLY", "text": "Non inviare più"},
            {"type": "URL", "text": "Vai al negozio", "url": "https://negozio.example/saldi"},
        ],
    },
    category="MARKETING",
)

# A document header and a named body parameter.
INVOICE = approved(
    "fattura",
    {
        "type": "HEADER",
        "format": "DOCUMENT",
        "example": {"header_handle": ["4::YXBwbGljYXRpb24vcGRm:ARa"]},
    },
    {
        "type": "BODY",
        "text": "Gentile {{nome}}, in allegato la fattura.",
        "example": {"body_text_named_params": [{"param_name": "nome", "example": "Mario"}]},
    },
    parameter_format="NAMED",
)

# A video header and nothing to fill in the body.
TUTORIAL = approved(
    "tutorial",
    {"type": "HEADER", "format": "VIDEO", "example": {"header_handle": ["4::dmlkZW8vbXA0:ARc"]}},
    {"type": "BODY", "text": "Ecco come montare la libreria."},
)

# A text header with a named parameter.
WELCOME = approved(
    "benvenuto",
    {
        "type": "HEADER",
        "format": "TEXT",
        "text": "Benvenuto {{nome}}",
        "example": {"header_text_named_params": [{"param_name": "nome", "example": "Mario"}]},
    },
    {"type": "BODY", "text": "Grazie per esserti registrato."},
    parameter_format="NAMED",
)

SENDABLE = [SHIPPED, SALE, INVOICE, TUTORIAL, WELCOME]

# What the console cannot send yet, with the reason a skipped entry keeps.
CAROUSEL = approved(
    "catalogo_autunno",
    {"type": "BODY", "text": "Le novità d'autunno"},
    {
        "type": "CAROUSEL",
        "cards": [
            {
                "components": [
                    {
                        "type": "HEADER",
                        "format": "IMAGE",
                        "example": {"header_handle": ["4::aW1hZ2UvcG5n:ARd"]},
                    },
                    {"type": "BODY", "text": "Giacca"},
                    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Vedi"}]},
                ]
            }
        ],
    },
    category="MARKETING",
)
LIMITED_OFFER = approved(
    "offerta_lampo",
    {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2U=:ARe"]}},
    {
        "type": "LIMITED_TIME_OFFER",
        "limited_time_offer": {"text": "Scade!", "has_expiration": True},
    },
    {"type": "BODY", "text": "Solo oggi"},
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "COPY_CODE", "example": "SCONTO20"},
            {"type": "URL", "text": "Compra", "url": "https://negozio.example/{{1}}"},
        ],
    },
    category="MARKETING",
)
LOCATION = approved(
    "dove_siamo",
    {"type": "HEADER", "format": "LOCATION"},
    {"type": "BODY", "text": "Ti aspettiamo in negozio."},
)
ONE_TIME_PASSWORD = approved(
    "codice_accesso",
    {"type": "BODY", "text": "*{{1}}* è il tuo codice di verifica."},
    {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copia"}]},
    category="AUTHENTICATION",
)
COUPON = approved(
    "coupon",
    {"type": "BODY", "text": "Il tuo sconto"},
    {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "250FF"}]},
    category="MARKETING",
)
CATALOG = approved(
    "vetrina",
    {"type": "BODY", "text": "Guarda il catalogo"},
    {"type": "BUTTONS", "buttons": [{"type": "CATALOG", "text": "Vedi catalogo"}]},
    category="MARKETING",
)
FLOW = approved(
    "prenota",
    {"type": "BODY", "text": "Prenota un appuntamento"},
    {
        "type": "BUTTONS",
        "buttons": [
            {
                "type": "FLOW",
                "text": "Prenota",
                "flow_id": "1234567890",
                "navigate_screen": "WELCOME",
                "flow_action": "navigate",
            }
        ],
    },
)

SKIPPED = {
    "catalogo_autunno": (CAROUSEL, "carousel"),
    "offerta_lampo": (LIMITED_OFFER, "limited_time_offer"),
    "dove_siamo": (LOCATION, "location_header"),
    "codice_accesso": (ONE_TIME_PASSWORD, "otp"),
    "coupon": (COUPON, "copy_code"),
    "vetrina": (CATALOG, "catalog"),
    "prenota": (FLOW, "flow"),
}


# What Graph's POST /{phone-number-id}/messages must receive (Meta's template object) for SHIPPED
# filled with header "5521", body "Mario", "domani" and URL-button ending "AB123", and for SALE
# with body "31 agosto" and this image header: the tests fill them so.
SHIPPED_SENT = {
    "name": "spedizione",
    "language": {"code": "it"},
    "components": [
        {"type": "header", "parameters": [{"type": "text", "text": "5521"}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Mario"},
                {"type": "text", "text": "domani"},
            ],
        },
        {
            "type": "button",
            "sub_type": "url",
            "index": "0",
            "parameters": [{"type": "text", "text": "AB123"}],
        },
    ],
}
SALE_IMAGE = "https://cdn.negozio.example/saldi.jpg"
SALE_SENT = {
    "name": "saldi",
    "language": {"code": "it"},
    "components": [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": SALE_IMAGE}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "31 agosto"}]},
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "Mi interessa"}],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "1",
            "parameters": [{"type": "payload", "payload": "Non inviare più"}],
        },
    ],
}
