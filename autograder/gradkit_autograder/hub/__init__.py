"""The course hub: JupyterHub with nbgrader's exchange, one shared formgrader, private homes.

``settings`` reads ``c.CourseHub``; ``accounts`` makes the Unix accounts; ``layout``
writes the hub's files; ``hub_config`` is JupyterHub's configuration; ``spawner``
starts each person's server with their role's panels and limits; ``exchange`` holds
nbgrader's exchange as the course uses it; ``formgrader`` keeps students' code out of
the formgrader; ``process`` starts and stops the hub. ``commands.hub`` is the
``gradkit hub`` command on top of them.
"""
