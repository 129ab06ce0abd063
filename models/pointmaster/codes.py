"""Codes of the point master's refusals: point modes, settings, forwards and uploads. The
points log's stored codes are `models.pointmaster.points_log.PointsLogErrorCode`."""

from __future__ import annotations

from core.errors import Code


class PointMasterCode(Code):
    MASTER_OWNS_POINTS = "MASTER_OWNS_POINTS"  # follower mode: points change at the master
    HISTORY_AT_MASTER = "HISTORY_AT_MASTER"  # follower mode: the ledger lives at the master
    NO_KEY = "NO_KEY"  # no shared key to sign with
    NO_ADJUSTMENT_URL = "NO_ADJUSTMENT_URL"  # follower mode: the master cannot be told
    ADJUSTMENT_ENDPOINT_DISABLED = "ADJUSTMENT_ENDPOINT_DISABLED"
    WRONG_POINT_MODE = "WRONG_POINT_MODE"
    INVALID_JSON = "INVALID_JSON"  # an upload that is not a JSON array
    TOO_MANY_ITEMS = "TOO_MANY_ITEMS"
    EMPTY_BATCH = "EMPTY_BATCH"
