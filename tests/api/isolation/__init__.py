"""Tenant isolation and member isolation: a foreign id is "not found", never "forbidden".

Tenant A has a full world (rewards, tiers, point definitions, members with points,
redemptions in every status, API keys). Every Query and Mutation field is probed by
tenant B (admin token, API key, member token) with the ids of A's objects. Each probe
must (1) answer null / an empty list / NOT_FOUND, (2) contain nothing of A, (3) answer
exactly what it answers for ids that never existed (no existence leak), and (4) leave
A's data as it was. A meta-test keeps the probe table in step with schema.graphql.
"""
