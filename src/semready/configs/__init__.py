"""Preset YAML files (package data)."""
