"""Strawberry types, inputs, enums and payloads; `schema.root` assembles the Schema."""
