"""The grader's verbs: one module a ``gradkit`` subcommand, the functions ``cli`` and ``api`` call.

``release``, ``collect``, ``grade``, ``feedback``, ``export``, ``report``,
``similarity``, ``verify``, ``demo``, ``term`` (``gradkit status``) and
``course_ray`` (``gradkit ray start/status/stop``). ``gradkit latedays`` calls
``state.late_days.apply_late_days`` directly.
"""
