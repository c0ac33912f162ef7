"""Server-rendered pages: templates, static files, and the helpers views share."""
