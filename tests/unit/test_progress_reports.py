"""How a run's progress is cut and passed on: chunk sizes from the pace so far, at most
one report an interval, and the worker's progress frames read as hostile input."""

from __future__ import annotations

import msgspec
import pytest

from qiskit_operator.execution import messages
from qiskit_operator.execution.progress import MAX_CHUNKS, MIN_FIRST_CHUNK, Chunks, Throttled


def sizes(chunks: Chunks, seconds_per_unit: float) -> list[int]:
    taken = []
    while size := chunks.next_size():
        taken.append(size)
        chunks.ran(size, size * seconds_per_unit)
    return taken


def test_chunks_cover_the_sweep_exactly_once() -> None:
    for total in (2, 3, 7, 100, 5000):
        assert sum(sizes(Chunks(total), 0.001)) == total


def test_the_first_chunk_is_small_and_holds_two_sets_at_least() -> None:
    assert Chunks(100).next_size() == MIN_FIRST_CHUNK
    assert Chunks(100_000).next_size() == 100_000 // MAX_CHUNKS


def test_later_chunks_take_about_the_target_time() -> None:
    taken = sizes(Chunks(100, target_seconds=0.5), seconds_per_unit=0.01)
    assert taken[0] == MIN_FIRST_CHUNK
    assert set(taken[1:-1]) == {50}


def test_a_fast_sweep_is_cut_into_few_chunks_and_a_slow_one_into_no_more_than_the_cap() -> None:
    assert len(sizes(Chunks(1000), seconds_per_unit=1e-6)) == 2
    assert len(sizes(Chunks(1000), seconds_per_unit=10.0)) <= MAX_CHUNKS + 1


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reports_pass_at_most_once_an_interval_and_only_when_the_count_moved() -> None:
    clock, passed = Clock(), []
    report = Throttled(lambda done, total: passed.append(done), 1.0, clock)
    report(1, 10)  # within the first interval: a short run says nothing but its end
    clock.now += 1.0
    report(2, 10)
    report(3, 10)  # too soon after the last
    clock.now += 1.5
    report(2, 10)  # the same count as the last passed on
    report(4, 10)
    report(5, 10)  # too soon again
    clock.now += 1.0
    report(6, 10)
    assert passed == [2, 4, 6]


def test_a_workers_progress_that_counts_up_within_the_sweep_is_taken() -> None:
    frame = messages.encode_progress(3, 10)
    reply = messages.decode_frame(frame)
    assert isinstance(reply, messages.Progressed)
    assert messages.check_progress(reply, 10, 0) == 3


@pytest.mark.parametrize(
    ("done", "total", "before"),
    [(3, 10, 3), (2, 10, 3), (11, 10, 3), (5, 20, 3), (0, 10, 0)],
    ids=["standing-still", "going-back", "past-the-end", "another-total", "none-done"],
)
def test_a_workers_progress_that_does_not_count_up_within_the_sweep_is_malformed(
    done: int, total: int, before: int
) -> None:
    reply = messages.decode_frame(messages.encode_progress(done, total))
    assert isinstance(reply, messages.Progressed)
    with pytest.raises(messages.MalformedReplyError):
        messages.check_progress(reply, 10, before)


def test_a_progress_frame_with_a_huge_or_negative_count_is_malformed() -> None:
    for forged in ({"done": -1, "total": 10}, {"done": 1, "total": 1 << 40}):
        frame = msgspec.msgpack.encode({"type": "progress", **forged})
        with pytest.raises(messages.MalformedReplyError):
            messages.decode_frame(frame)


def test_progress_where_the_reply_was_due_is_malformed() -> None:
    with pytest.raises(messages.MalformedReplyError):
        messages.decode_reply(messages.encode_progress(1, 2))
