"""One blueprint per resource: users, items, session recommendations, events, system routes."""
