"""make_batches, Lazy_repeat_item, Equivalence_checker, rolling_mean (face_rhythm.arrays)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import torch

from face_rhythm import helpers
from face_rhythm.errors import ConfigError, NotEquivalentError


def test_make_batches_by_size_and_by_number():
    assert list(helpers.make_batches(list(range(7)), batch_size=3)) == \
        [[0, 1, 2], [3, 4, 5], [6]]
    assert list(helpers.make_batches(list(range(7)), num_batches=2)) == \
        [[0, 1, 2, 3], [4, 5, 6]]
    got = list(helpers.make_batches(np.arange(10), batch_size=4, return_idx=True))
    assert [idx for _, idx in got] == [[0, 4], [4, 8], [8, 10]]
    np.testing.assert_array_equal(got[2][0], [8, 9])
    assert list(helpers.make_batches("abcdefg", 3, min_batch_size=2)) == ["abc", "def"]
    t = torch.arange(5)
    assert [b.tolist() for b in helpers.make_batches(t, batch_size=2)] == [[0, 1], [2, 3], [4]]


def test_make_batches_of_an_iterator_with_length():
    gen = (i * i for i in range(5))
    assert list(helpers.make_batches(gen, batch_size=2, length=5)) == [[0, 1], [4, 9], [16]]
    # length shorter than the sequence: only the first items
    assert list(helpers.make_batches(list(range(10)), batch_size=2, length=3)) == [[0, 1], [2]]


def test_make_batches_bad_arguments():
    with pytest.raises(ConfigError, match="batch_size or num_batches"):
        list(helpers.make_batches([1, 2]))
    with pytest.raises(ConfigError):
        list(helpers.make_batches([1, 2], batch_size=0))


def test_lazy_repeat_item():
    obj = {"big": np.zeros(3)}
    r = helpers.Lazy_repeat_item(obj, pseudo_length=4)
    assert len(r) == 4 and r[0] is obj and r[-4] is obj and r.item is obj
    assert list(r) == [obj] * 4 and r[1:3] == [obj, obj]
    with pytest.raises(IndexError):
        r[4]
    inf = helpers.Lazy_repeat_item("x")
    assert inf[10**9] == "x" and inf.pseudo_length is None
    assert list(zip(range(3), inf)) == [(0, "x"), (1, "x"), (2, "x")]
    with pytest.raises(TypeError):
        len(inf)
    # as a per-video argument of make_batches / zip
    assert list(helpers.make_batches(r, batch_size=3)) == [[obj] * 3, [obj]]


def test_equivalence_checker_nested_known_answers():
    true = {"a": np.arange(4.0), "b": {"c": "s", "d": [1, 2, 3]}, "e": [np.ones(2), None],
            "t": torch.ones(3), "sp": scipy.sparse.eye(3, format="csr"), "n": np.nan}
    test = {"a": np.arange(4.0) * (1 + 1e-9), "b": {"c": "s", "d": [1, 2, 4]},
            "e": [np.ones(2), None], "t": np.ones(3), "sp": scipy.sparse.eye(3, format="csr"),
            "n": float("nan")}
    out = helpers.Equivalence_checker()(test, true)
    assert out["a"] == (True, "allclose")  # rtol 1e-7
    assert out["b"]["c"] == (True, "equal") and out["b"]["d"][0] is False
    assert out["e"] == {"0": (True, "allclose"), "1": (True, "equal")}
    assert out["t"][0] and out["sp"][0] and out["n"][0]  # nan == nan (equal_nan)
    strict = helpers.Equivalence_checker(kwargs_allclose={"rtol": 0, "atol": 0})
    assert strict(test, true)["a"][0] is False
    missing = helpers.Equivalence_checker()({"a": 1}, {"a": 1, "z": 2})
    assert missing == {"a": (True, "allclose"), "z": (False, "key not found")}
    assert helpers.Equivalence_checker()(np.ones(3), np.ones(4)) == \
        (False, "shape (3,) != (4,)")


def test_equivalence_checker_objects_and_assert_mode():
    class P:
        def __init__(self, x):
            self.x, self._private = x, object()

    ch = helpers.Equivalence_checker()
    assert ch(P(np.ones(2)), P(np.ones(2))) == {"x": (True, "allclose")}
    assert ch(P(np.ones(2)), P(np.zeros(2)))["x"][0] is False
    with pytest.raises(NotEquivalentError, match=r"b\.1") as e:
        helpers.Equivalence_checker(assert_mode=True)({"b": [1, "u"]}, {"b": [1, "v"]})
    assert isinstance(e.value, AssertionError)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_rolling_mean_equals_the_mean(dim):
    x = torch.randn(5, 7, 3, generator=torch.Generator().manual_seed(0))
    got = helpers.rolling_mean(x, dim)
    assert got.dtype == torch.float32 and got.shape == x.mean(dim).shape
    torch.testing.assert_close(got, x.double().mean(dim).float())


def test_rolling_mean_is_accurate_in_half_precision_and_for_ints():
    x = torch.full((4096,), 1000.0, dtype=torch.float16) + torch.arange(4096) % 2
    got = helpers.rolling_mean(x, 0)
    assert got.dtype == torch.float16 and float(got) == 1000.5
    assert float(helpers.rolling_mean(torch.tensor([1, 2, 4]), 0)) == pytest.approx(7 / 3)
