"""What-if for bench/webhooks.py --claim-script (not used by the engine): arq's
`Worker.start_jobs` claiming each job with ONE Redis script call instead of its four round
trips (WATCH in-progress key, EXISTS, ZSCORE, MULTI/PSETEX/EXEC). Same checks, atomic in
Redis. Imported by the benchmark's worker process before the worker starts.
"""

from __future__ import annotations

from typing import Any

import arq.worker
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms

CLAIM = """
if redis.call('exists', KEYS[1]) == 1 then return false end
local score = redis.call('zscore', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('psetex', KEYS[1], ARGV[3], '1')
return score
"""


async def start_jobs(self: Any, job_ids: list[bytes]) -> None:
    claim = getattr(self, "_claim_script", None)
    if claim is None:
        claim = self._claim_script = self.pool.register_script(CLAIM)
    for job_id_b in job_ids:
        await self.sem.acquire()
        if self.job_counter >= self.max_jobs:
            self.sem.release()
            return
        self.job_counter += 1
        job_id = job_id_b.decode()
        timeout_ms = int(self.in_progress_timeout_s * 1000)
        score = await claim(
            keys=[in_progress_key_prefix + job_id, self.queue_name],
            args=[job_id, timestamp_ms(), timeout_ms],
        )
        if not score:  # running elsewhere, done, or not yet due
            self.job_counter -= 1
            self.sem.release()
            continue
        task = self.loop.create_task(self.run_job(job_id, int(float(score))))
        task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
        self.tasks[job_id] = task


arq.worker.Worker.start_jobs = start_jobs  # type: ignore[method-assign]
