"""The PBX channel kind: calls on a customer's own Asterisk (FreePBX and the like), followed over
the Asterisk Manager Interface. See ``docs/features/pbx.md``."""
