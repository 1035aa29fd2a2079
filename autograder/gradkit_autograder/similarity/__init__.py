"""The parts of ``gradkit similarity``: code shared across a class, found as MOSS does.

- ``winnowing``: one submission's fingerprints (normalised tokens, hashed k-grams,
  each window's minimum), the release's code removed. Pure functions.
- ``student_code``: the code each student wrote, read from the notebooks.
- ``scoring``: every pair's score from one matrix product, weighed by the class.
- ``page``: the HTML page, both students' code side by side.
"""
