"""Faithful local stand-ins for Gemini, Kraken and Hyperliquid. They never import the client's
signing code: each checks authentication with code of its own."""
