"""What a load run measured, as data: one sample per request, summaries computed from them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestSample:
    started: float  # seconds since the run began
    seconds: float  # latency, request sent to response read
    status: int  # HTTP status; 0 when the connection failed (no answer at all)
    worker: int | None = None  # X-Worker-Pid of the answer
    retry_after: str | None = None
    error: str = ""  # the connection error or the server's one-line {"error": ...}
    attempts: int = 1  # tries it took (LoadSpec.retry_503); `seconds` then runs from the first
    client: int = -1  # which of the run's clients sent it (0..concurrency-1)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    wall_seconds: float
    samples: tuple[RequestSample, ...]

    @property
    def status_counts(self) -> dict[str, int]:
        """'200': n, '503': n, 'error': n (connection failures)."""
        counts = Counter("error" if s.status == 0 else str(s.status) for s in self.samples)
        return dict(sorted(counts.items()))

    @property
    def ok(self) -> int:
        return sum(1 for s in self.samples if s.status == 200)

    @property
    def throughput(self) -> float:
        """Successful responses per second of wall time."""
        return self.ok / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def latency(self, q: float) -> float | None:
        """Percentile of the successful requests' latency, seconds."""
        return percentile([s.seconds for s in self.samples if s.status == 200], q)

    @property
    def p50(self) -> float | None:
        return self.latency(50)

    @property
    def p95(self) -> float | None:
        return self.latency(95)

    @property
    def p99(self) -> float | None:
        return self.latency(99)

    def ok_per_client(self) -> dict[int, int]:
        """200s per client, every client of the run listed (0 for one that never got an answer)."""
        counts = dict.fromkeys(range(self.concurrency), 0)
        for s in self.samples:
            if s.status == 200 and s.client >= 0:
                counts[s.client] = counts.get(s.client, 0) + 1
        return counts

    @property
    def starved_clients(self) -> int:
        """Clients that sent requests yet never got a 200: the server was unfair to them."""
        sent = {s.client for s in self.samples}
        return sum(1 for c, n in self.ok_per_client().items() if n == 0 and c in sent)

    @property
    def server_errors(self) -> int:
        """5xx other than 503 (a 503 is admission control saying 'retry later')."""
        return sum(1 for s in self.samples if s.status >= 500 and s.status != 503)

    @property
    def rejected_without_retry_after(self) -> int:
        return sum(1 for s in self.samples if s.status == 503 and not s.retry_after)

    @property
    def per_worker(self) -> dict[int, int]:
        """Worker pid → successful answers it gave (X-Worker-Pid)."""
        return dict(Counter(s.worker for s in self.samples if s.status == 200 and s.worker is not None))

    def summary(self) -> dict:
        return {"concurrency": self.concurrency, "requests": len(self.samples), "wall_seconds": self.wall_seconds,
                "throughput": self.throughput, "p50": self.p50, "p95": self.p95, "p99": self.p99,
                "status": self.status_counts}
