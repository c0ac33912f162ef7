"""The front line: briefings, proposals, training, console notifications (issue 17)."""
