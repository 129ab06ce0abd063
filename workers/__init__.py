"""arq workers: the jobs that talk to the outside world or run on a schedule.

Workers import models/ and core/, never schema/, resolvers/ or engine/.
"""
