"""The similarity report's parts: winnowed fingerprints and the HTML page."""
