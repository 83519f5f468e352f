"""Patch estimators."""
