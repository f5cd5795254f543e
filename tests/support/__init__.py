"""Test helpers written once and used by the test folders of every entry point."""
