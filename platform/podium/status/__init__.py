"""Operations: liveness, readiness and the platform's status (workers, queues, waits, failures)."""
