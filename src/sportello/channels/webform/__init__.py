"""The webform channel: a public, embeddable contact form."""
