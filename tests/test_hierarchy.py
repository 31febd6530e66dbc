import pytest

from paperlib.hierarchy import Hierarchy


def toy(sizes=(3, 3, 2, 4)):
    groups, start = [], 0
    for n in sizes:
        groups.append(tuple(range(start, start + n)))
        start += n
    return Hierarchy("toy", tuple(f"s{i}" for i in range(len(sizes))), tuple(groups))


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_shuffled_keeps_sizes_and_partitions(seed):
    h = toy()
    s = h.shuffled(seed)
    assert s.subclasses_per_superclass == h.subclasses_per_superclass
    flat = [c for g in s.groups for c in g]
    assert sorted(flat) == sorted(h.subclasses)  # every subclass exactly once
    assert len(set(flat)) == len(flat)


def test_shuffled_is_seeded():
    h = toy((5,) * 20)
    assert h.shuffled(3).groups == h.shuffled(3).groups
    assert h.shuffled(3).groups != h.shuffled(4).groups
    assert h.shuffled(3).groups != h.groups


def test_lookup_and_roundtrip():
    h = toy()
    table = h.lookup()
    assert table.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 3]
    assert Hierarchy.from_dict(h.to_dict()) == h
    assert h.superclass_of(7) == 2
    assert h.superclass_labels([11, 0, 7, 40]).tolist() == [3, 0, 2, -1]  # -1: not in the hierarchy


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(superclasses=("a",), groups=((0,), (1,))), "superclass names"),
        (dict(superclasses=("a", "b"), groups=((0, 1), (1, 2))), "more than one superclass"),
        (dict(superclasses=("a", "b"), groups=((0,), ())), "at least one subclass"),
        (dict(superclasses=("a", "a"), groups=((0,), (1,))), "duplicate"),
        (dict(superclasses=("a",), groups=((0, 5),), subclass_names=("x",)), "subclass names"),
    ],
)
def test_invalid_hierarchies_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Hierarchy("bad", **kwargs)
