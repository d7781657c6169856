"""Configuration: what a live session is (LiveConfig and the settings it holds)."""
