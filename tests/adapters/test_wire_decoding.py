"""billfold.api.wire against the official SDK's own encoder: whatever the SDK sends, we read back.

The property: ``decode_form(encode(params)) == params`` with every scalar leaf as a string, where ``encode`` is
exactly what stripe-python does to a v1 request (``stripe._encode._api_encode`` + ``urlencode`` + putting the
brackets back, in ``stripe._api_requestor``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stripe._encode import _api_encode

from billfold.api.wire import decode_form, decode_json, decode_query
from billfold.app.errors import InvalidRequest


def sdk_encode(params: dict[str, Any]) -> bytes:
    """stripe._api_requestor.APIRequestor.request_raw's v1 body encoding."""
    encoded = urlencode(list(_api_encode(params)))
    return encoded.replace("%5B", "[").replace("%5D", "]").encode()


def stringified(value: Any, *, list_item: bool = False) -> Any:
    """What the wire keeps of a value: strings at the leaves, None dropped.

    The SDK spells a boolean "true"/"false", except a boolean directly inside a list, which it leaves to
    ``urlencode`` (so "True"/"False"); the resources' boolean parsing accepts both. A list directly inside a
    list is encoded as a hash of its indexes, so its own items are spelled the hash way.
    """
    if isinstance(value, dict):
        return {k: stringified(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [stringified(v, list_item=not list_item) for v in value if v is not None]
    if isinstance(value, bool) and not list_item:
        return str(value).lower()
    return str(value)


# -- examples ---------------------------------------------------------------------------------------------------
def test_sdk_shapes() -> None:
    params = {
        "items": [{"price": "price_1", "quantity": 2}, {"price": "price_2", "tax_rates": ["txr_1", "txr_2"]}],
        "metadata": {"order": "42", "note": "a&b=c d"},
        "expand": ["latest_invoice.payment_intent"],
        "cancel_at_period_end": False,
        "trial_end": "now",
        "description": None,
    }
    assert sdk_encode(params).startswith(b"items[0][price]=price_1&items[0][quantity]=2")
    assert decode_form(sdk_encode(params)) == stringified(params)


def test_empty_string_values_survive() -> None:
    # "" is meaningful on the wire: it unsets a field (metadata[key]="" removes a key).
    assert decode_form(b"metadata[a]=&description=") == {"metadata": {"a": ""}, "description": ""}


def test_append_brackets_and_indexes() -> None:
    assert decode_form(b"expand[]=a&expand[]=b") == {"expand": ["a", "b"]}
    assert decode_form(b"items[1][p]=y&items[0][p]=x") == {"items": [{"p": "x"}, {"p": "y"}]}
    # Indexes order the list; gaps close up (the SDK never sends gaps).
    assert decode_form(b"a[10]=z&a[2]=y") == {"a": ["y", "z"]}
    assert decode_form(b"a[][x]=1&a[][x]=2") == {"a": [{"x": "1"}, {"x": "2"}]}


def test_a_hash_with_some_numeric_keys_stays_a_hash() -> None:
    assert decode_form(b"metadata[1]=a&metadata[b]=c") == {"metadata": {"1": "a", "b": "c"}}


def test_percent_encoding_and_plus() -> None:
    assert decode_form(b"name=J%C3%BCrgen+M%C3%BCller&m%5Bk%5D=v") == {
        "name": "Jürgen Müller",
        "m": {"k": "v"},
    }


def test_query_uses_the_same_rules() -> None:
    assert decode_query("types[]=a&types[]=b&created[gte]=5") == {
        "types": ["a", "b"],
        "created": {"gte": "5"},
    }
    assert decode_query("") == {}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"a[b=1", "a[b"),
        (b"[a]=1", "[a]"),
        (b"a[b]c=1", "a[b]c"),
        (b"a]=1&a[b]=2", None),
        (b"a=1&a[b]=2", "a[b]"),
        (b"a[b]=2&a=1", "a"),
    ],
)
def test_malformed_keys(body: bytes, param: str | None) -> None:
    if param is None:  # "a]" is just an odd name: the resource's unknown-parameter check refuses it
        assert decode_form(body) == {"a]": "1", "a": {"b": "2"}}
        return
    with pytest.raises(InvalidRequest) as err:
        decode_form(body)
    assert err.value.param == param


def test_invalid_utf8() -> None:
    with pytest.raises(InvalidRequest, match="UTF-8"):
        decode_form(b"name=\xff")


def test_json_bodies() -> None:
    assert decode_json(b'{"a": {"b": [1, true]}}') == {"a": {"b": [1, True]}}
    assert decode_json(b"") == {}
    for bad in (b"{", b"[]", b"3", b'{"a": "\xff"}'):
        with pytest.raises(InvalidRequest):
            decode_json(bad)


def test_non_ascii_digit_keys_are_plain_keys() -> None:
    assert decode_form("metadata[²]=x".encode()) == {"metadata": {"²": "x"}}


def test_top_level_numeric_keys_stay_a_dict() -> None:
    assert decode_form(b"0=a&1=b") == {"0": "a", "1": "b"}


def test_sentinel_name_is_an_ordinary_key() -> None:
    assert decode_form(b"metadata[__append__]=abc") == {"metadata": {"__append__": "abc"}}


@pytest.mark.parametrize("body", [b"a[]=x&a[0]=y", b"a[0]=y&a[]=x", b"a[]=x&a[k]=y"])
def test_append_and_index_forms_do_not_mix(body: bytes) -> None:
    # Which value would win is a guess; refusing is the only answer that loses nothing silently.
    with pytest.raises(InvalidRequest):
        decode_form(body)


# -- the property -----------------------------------------------------------------------------------------------
# Keys: anything but brackets, not all digits (the wire cannot tell a hash with keys 0..n from a list). Neither keys
# nor values hold NUL, which is refused (test_nul_is_refused_wherever_it_is).
keys = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="[]\x00"), min_size=1, max_size=8
).filter(lambda k: not k.isdigit())
leaves = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.booleans(),
)
# Containers are never empty (an empty hash or list sends no pairs at all).
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4),
        st.dictionaries(keys, inner, min_size=1, max_size=4),
    ),
    max_leaves=12,
)
param_dicts = st.dictionaries(keys, values, min_size=0, max_size=5)


@settings(max_examples=400, deadline=None)
@given(param_dicts)
def test_decode_inverts_the_sdk_encoder(params: dict[str, Any]) -> None:
    assert decode_form(sdk_encode(params)) == stringified(params)


@settings(max_examples=200, deadline=None)
@given(param_dicts)
def test_query_string_decodes_like_the_body(params: dict[str, Any]) -> None:
    # The SDK sends GET and DELETE params in the query string with the same encoder.
    assert decode_query(sdk_encode(params).decode()) == decode_form(sdk_encode(params))


@settings(max_examples=200, deadline=None)
@given(param_dicts, st.data())
def test_nul_is_refused_wherever_it_is(params: dict[str, Any], data: st.DataObject) -> None:
    # PostgreSQL cannot store NUL in text: the decoder refuses it in any key or value, at any depth.
    pairs = parse_qsl(sdk_encode(params).decode(), keep_blank_values=True)
    pairs.append(("name", "x"))
    index = data.draw(st.integers(0, len(pairs) - 1))
    key, value = pairs[index]
    if data.draw(st.booleans()):
        value = value[: len(value) // 2] + "\x00" + value[len(value) // 2 :]
    else:
        key = key.replace("[", "\x00[", 1) if "[" in key else key + "\x00"
    pairs[index] = (key, value)
    body = urlencode(pairs).encode()
    with pytest.raises(InvalidRequest, match="NUL"):
        decode_form(body)
    with pytest.raises(InvalidRequest, match="NUL"):
        decode_query(body.decode())
