"""Thin GraphQL resolvers: who is asking, validate, call models/, shape the payload."""
