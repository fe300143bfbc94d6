"""Prompts and the voicemail drop: MP3 import and conversion, the manifest, delivery to Asterisk."""
