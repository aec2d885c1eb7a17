"""Object ids: a type prefix, 7 characters of creation time that sort in time order, 17 random characters."""

from __future__ import annotations

import os
import re
import string
import threading
import time
from collections import Counter

import pytest

from billfold import ids


def test_an_id_is_the_prefix_and_24_alphanumeric_characters() -> None:
    assert re.fullmatch(r"in_[A-Za-z0-9]{24}", ids.new_id("invoice"))
    assert re.fullmatch(r"sub_sched_[A-Za-z0-9]{24}", ids.new_id("subscription_schedule"))
    assert re.fullmatch(r"acct_[A-Za-z0-9]{16}", ids.new_id("account", 16))


def test_ids_made_later_sort_after_earlier_ones_bytewise() -> None:
    earlier = [ids.new_id("event") for _ in range(50)]
    time.sleep(0.002)  # the time part counts milliseconds
    later = [ids.new_id("event") for _ in range(50)]
    assert max(i.encode() for i in earlier) < min(i.encode() for i in later)


def test_the_time_part_is_milliseconds_since_2020_in_ascii_ordered_base_62() -> None:
    before = time.time_ns() // 1_000_000
    part = ids.new_id("event")[4:11]
    after = time.time_ns() // 1_000_000
    digits = string.digits + string.ascii_uppercase + string.ascii_lowercase
    value = 0
    for ch in part:
        value = value * 62 + digits.index(ch)
    assert before - 1_577_836_800_000 <= value <= after - 1_577_836_800_000


def test_ids_made_in_one_millisecond_differ_in_their_random_part() -> None:
    made = [ids.new_id("event") for _ in range(20_000)]
    assert len(set(made)) == len(made)
    # Every character of the alphabet turns up in the random parts, none far more often than the others.
    counts = Counter("".join(i[11:] for i in made))
    assert set(counts) == set(string.ascii_letters + string.digits)
    expected = 20_000 * 17 / 62
    assert all(0.8 * expected < n < 1.3 * expected for n in counts.values())


@pytest.mark.parametrize("length", [8, 14, 32, 40])
def test_random_tokens_are_alphanumeric_of_the_length_asked(length: int) -> None:
    token = ids.random_token(length)
    assert re.fullmatch(rf"[A-Za-z0-9]{{{length}}}", token)
    assert token != ids.random_token(length)


def test_customers_made_in_one_millisecond_get_different_invoice_prefixes() -> None:
    from billfold.app.customers import _invoice_prefix

    made = [ids.new_id("customer") for _ in range(2_000)]
    prefixes = {_invoice_prefix(c) for c in made}
    assert len(prefixes) == len(made)
    assert all(re.fullmatch(r"[A-Z0-9]{8}", p) for p in prefixes)


def test_a_forked_process_and_its_parent_never_make_the_same_random_part() -> None:
    """Random bytes come from a pool (one system call for many ids); a forked child (the benchmark's and the
    crash test's worker processes, a pre-forking server) must not hand out its parent's pooled bytes."""
    ids.new_id("event")  # the parent's pool now holds bytes the child would inherit
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, " ".join(ids.new_id("event")[11:] for _ in range(300)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {ids.new_id("event")[11:] for _ in range(300)}
    assert len(child) == 300 and len(parent) == 300
    assert not child & parent


def test_ids_made_in_many_threads_at_once_are_all_different() -> None:
    made: list[list[str]] = [[] for _ in range(8)]

    def make(out: list[str]) -> None:
        out.extend(ids.new_id("event") for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in made for i in out]
    assert len(set(every)) == len(every) == 40_000
