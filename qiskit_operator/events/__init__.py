"""The event contract of DESIGN.md §3: types, typed payloads, and their CloudEvent codecs."""
