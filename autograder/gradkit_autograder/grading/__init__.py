"""Running one submission: the job and result contract, the worker, the guarded nbgrader execution and the class of stored answers verify grades."""
