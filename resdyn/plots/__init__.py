"""Figures, drawn from tables and saved arrays alone (never from models)."""
