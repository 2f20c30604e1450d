"""Where the workers comparison puts the server and the load generator."""

from __future__ import annotations

from bench.cores import IN_FLIGHT_PER_WORKER, describe, plan


def test_on_two_cores_every_count_shares_one_server_core_beside_the_generators() -> None:
    one, two = plan([0, 1], [1, 2])
    assert (one.server, one.load, one.own_cores) == ((0,), (1,), True)
    assert (two.server, two.load, two.own_cores) == ((0,), (1,), False)
    assert describe(two) == "core 0 (server), core 1 (load generator)"


def test_on_sixteen_cores_the_generator_keeps_the_cores_beyond_the_largest_server() -> None:
    layouts = plan(list(range(16)), [1, 2, 8])
    assert [layout.server for layout in layouts] == [(0,), (0, 1), tuple(range(8))]
    # The same generator cores for every count: what it can send is alike on both sides.
    assert {layout.load for layout in layouts} == {tuple(range(8, 16))}
    assert all(layout.own_cores for layout in layouts)
    assert describe(layouts[2]) == "cores 0-7 (server), cores 8-15 (load generator)"
    # Eight processes share the eight workers' requests in flight.
    assert layouts[2].connections() == [IN_FLIGHT_PER_WORKER] * 8
    assert sum(layouts[0].connections()) >= IN_FLIGHT_PER_WORKER


def test_more_workers_than_cores_leave_the_generator_one_core() -> None:
    (layout,) = plan(list(range(4)), [12])
    assert (layout.server, layout.load, layout.own_cores) == ((0, 1, 2), (3,), False)
    assert layout.connections() == [12 * IN_FLIGHT_PER_WORKER]
